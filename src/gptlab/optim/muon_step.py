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


def newton_schulz(matrices: Tensor, coefficients: tuple[float, float, float], steps: int,
                  eps: float) -> Tensor:  # fmt: skip
    """torch.optim.Muon's quintic Newton-Schulz orthogonalisation, in bf16, of a batch of matrices
    of one shape (``k x m x n``)."""
    a, b, c = coefficients
    x = matrices.bfloat16()
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)  # spectral norm at most 1
    for _ in range(steps):
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


@torch.no_grad()
def muon_step(optimizer: torch.optim.Muon, skip: Tensor | None = None) -> None:
    """One update of every parameter of ``optimizer`` that has a gradient. ``skip``: a 0-d bool
    tensor; when true, parameters and momentum buffers stay exactly as they were."""
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
            update = newton_schulz(
                update, group["ns_coefficients"], group["ns_steps"], group["eps"]
            )
            keep = None if skip is None else (~skip).to(update.dtype)
            if decay:
                factor = 1 - lr * decay
                if keep is not None:
                    factor = 1 - lr * decay * keep.float()
                foreach_mul_(params, factor)
            if keep is not None:
                update = update * keep  # exact: by 1 or by 0
            step_size = -adjusted_lr(lr, group["adjust_lr_fn"], shape)
            foreach_add_(params, list(update.unbind(0)), alpha=step_size)


def _momentum_buffer(optimizer: torch.optim.Optimizer, param: Tensor) -> Tensor:
    state = optimizer.state[param]
    if "momentum_buffer" not in state:  # as torch.optim.Muon creates it
        state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    return state["momentum_buffer"]
