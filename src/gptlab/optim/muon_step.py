"""``torch.optim.Muon``'s update, computed for all matrices of one shape at once and skippable on
the device.

``torch.optim.Muon.step`` orthogonalises one matrix at a time: about twenty kernels per matrix, a
thousand launches per step for GPT-2 124M's 48 matrices, each too small to keep a GPU busy. And it
can only be skipped from the host, which costs a sync per step when non-finite steps are checked
(``module.nonfinite``). Here the momentum buffers and Newton-Schulz iterations of same-shape matrices
run as batched products (a few dozen launches), and a skipped step is a 0-d flag on the device that
turns the update into a no-op. The arithmetic, hyperparameters and state (``momentum_buffer`` per
parameter, so checkpoints load either way) are torch.optim.Muon's.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor

from gptlab.upstream.torch import foreach_add_, foreach_copy_, foreach_mul_

# Polar Express (Amsel, Persson, Musco, Gower 2025): a quintic per iteration, each chosen for the
# singular values the previous ones leave, so five iterations come closer to orthogonal than five
# of one fixed quintic; the modded-nanogpt speedrun uses these five. Later iterations repeat the last.
POLAR_EXPRESS = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)
POLAR_EXPRESS_SAFETY = 1.02  # the norm is overestimated a little: every singular value <= 1


def newton_schulz(matrices: Tensor, coefficients: tuple[float, float, float], steps: int,
                  eps: float, schedule: tuple[tuple[float, float, float], ...] | None = None,
                  ) -> Tensor:  # fmt: skip
    """torch.optim.Muon's quintic Newton-Schulz orthogonalisation, in bf16, of a batch of matrices
    of one shape (``k x m x n``); with a ``schedule`` (Polar Express), iteration i uses its i-th
    coefficients instead of ``coefficients``."""
    x = matrices.bfloat16()
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    norm = x.norm(dim=(-2, -1), keepdim=True)
    if schedule is not None:
        norm = norm * POLAR_EXPRESS_SAFETY
    x = x / norm.clamp(min=eps)  # spectral norm at most 1
    for i in range(steps):
        a, b, c = coefficients if schedule is None else schedule[min(i, len(schedule) - 1)]
        gram = x @ x.mT
        gram_update = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.baddbmm(x, gram_update, x, beta=a)
    return x.mT if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """torch.optim.Muon's per-shape learning rate (``original`` or ``match_rms_adamw``)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


def normalize_rows(update: Tensor, second_moments: Tensor, beta2: float,
                   skip: Tensor | None) -> Tensor:  # fmt: skip
    """NorMuon (Li et al. 2025): each row (output neuron) of the orthogonalised ``update``
    (``k x m x n``) divided by the root of its running mean square (``second_moments``, ``k x m x
    1``, updated in place unless ``skip``), then scaled back to the update's own norm, so the
    neurons' step sizes even out while Muon's overall step size stays."""
    update = update.float()
    moments = second_moments.lerp(update.square().mean(dim=-1, keepdim=True), 1 - beta2)
    if skip is not None:
        moments = torch.where(skip, second_moments, moments)
    second_moments.copy_(moments)
    normed = update * moments.clamp(min=1e-10).rsqrt()
    scale = update.norm(dim=(-2, -1), keepdim=True) / normed.norm(dim=(-2, -1), keepdim=True)
    return normed * scale.nan_to_num(0.0)


@torch.no_grad()
def muon_step(optimizer: torch.optim.Muon, skip: Tensor | None = None) -> None:
    """One update of every parameter of ``optimizer`` that has a gradient. ``skip``: a 0-d bool
    tensor; when true, parameters and momentum buffers stay exactly as they were.

    Beside torch's settings a group may hold gptlab's variants (``optim.ns_coefficients``,
    ``normuon``, ``cautious_weight_decay``): ``ns_schedule`` (Polar Express's coefficients),
    ``normuon_beta2`` (NorMuon's row normalisation, its state ``normuon_second_moment``), and
    ``cautious_wd`` (decay only where the update has the weight's sign, Chen et al. 2025)."""
    for group in optimizer.param_groups:
        by_shape: dict[tuple, list[Tensor]] = defaultdict(list)
        for param in group["params"]:
            if param.grad is not None:
                by_shape[(param.shape, param.dtype, param.device)].append(param)
        lr, decay, momentum = group["lr"], group["weight_decay"], group["momentum"]
        for (shape, _, _), params in by_shape.items():
            buffers = [_momentum_buffer(optimizer, p) for p in params]
            grads = torch.stack([p.grad for p in params])
            stacked = torch.stack(buffers)
            if skip is not None:  # the buffer lerps towards itself: unchanged, even for NaN grads
                grads = torch.where(skip, stacked, grads)
            stacked.lerp_(grads, 1 - momentum)
            foreach_copy_(buffers, list(stacked.unbind(0)))
            update = grads.lerp(stacked, momentum) if group["nesterov"] else stacked
            update = newton_schulz(update, group["ns_coefficients"], group["ns_steps"],
                                   group["eps"], group.get("ns_schedule"))  # fmt: skip
            beta2 = group.get("normuon_beta2")
            if beta2 is not None:
                moments = [
                    _state(optimizer, p, "normuon_second_moment", _row_moments) for p in params
                ]
                stacked_moments = torch.stack(moments)
                update = normalize_rows(update, stacked_moments, beta2, skip)
                foreach_copy_(moments, list(stacked_moments.unbind(0)))
            keep = None if skip is None else (~skip).to(update.dtype)
            if decay and group.get("cautious_wd"):
                weights = torch.stack(params)
                decayed = weights * (update * weights > 0)  # where the update shrinks it too
                if keep is not None:
                    decayed = decayed * keep.to(decayed.dtype)
                foreach_add_(params, list(decayed.unbind(0)), alpha=-lr * decay)
            elif decay:
                factor = 1 - lr * decay
                if keep is not None:
                    factor = 1 - lr * decay * keep.float()
                foreach_mul_(params, factor)
            if keep is not None:
                update = update * keep  # exact: by 1 or by 0
            step_size = -adjusted_lr(lr, group["adjust_lr_fn"], shape)
            foreach_add_(params, list(update.unbind(0)), alpha=step_size)


def _momentum_buffer(optimizer: torch.optim.Optimizer, param: Tensor) -> Tensor:
    # as torch.optim.Muon creates it
    return _state(optimizer, param, "momentum_buffer",
                  lambda p: torch.zeros_like(p, memory_format=torch.preserve_format))  # fmt: skip


def _row_moments(param: Tensor) -> Tensor:
    return torch.zeros(param.size(0), 1, device=param.device, dtype=torch.float32)


def _state(optimizer: torch.optim.Optimizer, param: Tensor, name: str, make) -> Tensor:
    state = optimizer.state[param]
    if name not in state:
        state[name] = make(param)
    return state[name]
