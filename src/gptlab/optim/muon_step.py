"""``torch.optim.Muon``'s update, computed for all matrices of one shape at once, skippable on the
device, and compiled into a few kernels on GPUs.

``torch.optim.Muon.step`` orthogonalises one matrix at a time: about twenty kernels per matrix, a
thousand launches per step for GPT-2 124M's 48 matrices, each too small to keep a GPU busy. And it
can only be skipped from the host, which costs a sync per step when non-finite steps are checked
(``module.nonfinite``). Here the Newton-Schulz iterations of same-shape matrices run as batched
products, the momentum buffers of one shape live in one stacked tensor (each parameter's state is a
view of it: nothing is stacked and copied back every step), and a skipped step is a 0-d flag on the
device that turns the update into a no-op. With ``compiled`` (on GPUs, when the run compiles) the
update of one shape is one torch.compile graph: the element-wise work around the products (momentum,
Nesterov, normalisation, NorMuon, decay, the write into the weights) is fused, each tensor read
once instead of a dozen times. The arithmetic, hyperparameters and state (``momentum_buffer`` per
parameter, so checkpoints load either way) are torch.optim.Muon's.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gptlab.upstream.torch import foreach_add_, foreach_mul_

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


@dataclass(frozen=True)
class Recipe:
    """What one group's update does, fixed for a run (a compiled graph bakes these in)."""

    nesterov: bool
    coefficients: tuple[float, float, float]
    ns_steps: int
    eps: float
    schedule: tuple[tuple[float, float, float], ...] | None  # Polar Express
    normuon_beta2: float | None
    decay: bool
    cautious: bool

    @classmethod
    def of(cls, group: dict[str, Any]) -> Recipe:
        return cls(
            bool(group["nesterov"]), tuple(group["ns_coefficients"]), int(group["ns_steps"]),
            float(group["eps"]), group.get("ns_schedule"), group.get("normuon_beta2"),
            bool(group["weight_decay"]), bool(group.get("cautious_wd")),
        )  # fmt: skip


def update_matrices(params: list[Tensor], grads: list[Tensor], momentum: Tensor,
                    moments: Tensor | None, scalars: dict[str, float | Tensor],
                    skip: Tensor | None, recipe: Recipe) -> None:  # fmt: skip
    """Muon's step for same-shape ``params``: ``momentum`` (``k x m x n``) and NorMuon's
    ``moments`` (``k x m x 1``) are their stacked states, updated in place. ``scalars`` hold this
    step's ``beta`` (momentum), ``1 - beta``, ``lr_step`` (-adjusted lr), ``decay_factor``
    (1 - lr * weight_decay) and ``decay_amount`` (lr * weight_decay): Python numbers eagerly, 0-d
    device tensors when compiled (a changing number would compile the graph again)."""
    grad = torch.stack(grads)
    if skip is not None:  # the buffer lerps towards itself: unchanged, even for NaN grads
        grad = torch.where(skip, momentum, grad)
    momentum.lerp_(grad, scalars["one_minus_beta"])
    update = grad.lerp(momentum, scalars["beta"]) if recipe.nesterov else momentum
    update = newton_schulz(update, recipe.coefficients, recipe.ns_steps, recipe.eps,
                           recipe.schedule)  # fmt: skip
    if moments is not None:
        update = normalize_rows(update, moments, recipe.normuon_beta2, skip)
    keep = None if skip is None else (~skip).float()
    update = update.float() if keep is None else update.float() * keep  # exact: by 1 or by 0
    if recipe.decay and recipe.cautious:
        weights = torch.stack(params)
        decayed = weights * (update * weights > 0)  # where the update shrinks it too
        if keep is not None:
            decayed = decayed * keep
        apply(params, decayed, -scalars["decay_amount"])
    elif recipe.decay:
        factor = scalars["decay_factor"]
        if keep is not None:
            factor = 1 - (1 - factor) * keep
        scale(params, factor)
    apply(params, update, scalars["lr_step"])


def apply(params: list[Tensor], updates: Tensor, alpha: float | Tensor) -> None:
    """``params[i] += alpha * updates[i]``: one multi-tensor kernel eagerly; plain in-place adds
    inside a compiled graph (which fuses them)."""
    if isinstance(alpha, Tensor):
        for param, update in zip(params, updates.unbind(0), strict=True):
            param.add_(update * alpha)
    else:
        foreach_add_(params, list(updates.unbind(0)), alpha=alpha)


def scale(params: list[Tensor], factor: float | Tensor) -> None:
    if isinstance(factor, Tensor):
        for param in params:
            param.mul_(factor)
    else:
        foreach_mul_(params, factor)


@dataclass
class _Bucket:
    """The same-shape parameters of one group with a gradient, and their stacked states."""

    params: list[Tensor]
    momentum: Tensor
    moments: Tensor | None
    views: list[Tensor] = field(default_factory=list)  # what each parameter's state must still be


class BatchedMuon:
    """Steps a ``torch.optim.Muon`` (whose groups may carry gptlab's variants, see
    :func:`muon_step`) batched by shape. ``compiled``: each shape's update as one torch.compile
    graph (``backend``: Inductor; tests pass a lighter one)."""

    def __init__(self, optimizer: torch.optim.Muon, compiled: bool = False,
                 backend: str | Callable = "inductor") -> None:  # fmt: skip
        self.optimizer = optimizer
        self.compiled = compiled
        self._update: Callable[..., None] = update_matrices
        if compiled:  # static shapes: each shape compiles once; scalars are device tensors
            self._update = torch.compile(update_matrices, fullgraph=True, dynamic=False,
                                         backend=backend)  # fmt: skip
        self._buckets: dict[tuple, _Bucket] = {}
        self._scalars: dict[tuple, Tensor] = {}
        self._filled: set[tuple] = set()  # the scalars filled in this step
        self._no_skip: dict[torch.device, Tensor] = {}

    @torch.no_grad()
    def step(self, skip: Tensor | None = None) -> None:
        """One update of every parameter that has a gradient; ``skip``: a 0-d bool tensor, when
        true, parameters and states stay exactly as they were."""
        self._filled.clear()
        for index, group in enumerate(self.optimizer.param_groups):
            by_shape: dict[tuple, list[Tensor]] = defaultdict(list)
            for param in group["params"]:
                if param.grad is not None:
                    by_shape[(param.shape, param.dtype, param.device)].append(param)
            recipe = Recipe.of(group)
            for (shape, _, device), params in by_shape.items():
                bucket = self._bucket((index, shape, device), params, recipe)
                scalars = self._step_scalars(index, group, shape, device)
                flag = skip
                if self.compiled and flag is None:  # one graph for both: never skipping
                    flag = self._no_skip.setdefault(device, torch.zeros((), dtype=torch.bool,
                                                                        device=device))  # fmt: skip
                self._update(bucket.params, [p.grad for p in params], bucket.momentum,
                             bucket.moments, scalars, flag, recipe)  # fmt: skip

    def _step_scalars(self, index: int, group: dict[str, Any], shape: torch.Size,
                      device: torch.device) -> dict[str, float | Tensor]:  # fmt: skip
        lr, beta, decay = group["lr"], group["momentum"], group["weight_decay"]
        values = {
            "beta": beta,
            "one_minus_beta": 1 - beta,
            "lr_step": -adjusted_lr(lr, group["adjust_lr_fn"], shape),
            "decay_factor": 1 - lr * decay,
            "decay_amount": lr * decay,
        }
        if not self.compiled:
            return values
        tensors = {}
        for name, value in values.items():  # filled in place: a kernel argument, no host sync
            key = (index, name, tuple(shape) if name == "lr_step" else None, device)
            if key not in self._scalars:
                self._scalars[key] = torch.zeros((), dtype=torch.float32, device=device)
            if key not in self._filled:  # a group's shared scalars: once per step, not per shape
                self._scalars[key].fill_(value)
                self._filled.add(key)
            tensors[name] = self._scalars[key]
        return tensors

    def _bucket(self, key: tuple, params: list[Tensor], recipe: Recipe) -> _Bucket:
        """The stacked states of ``params``, (re)built when a parameter's state is not a view of
        them: the first step, or after ``load_state_dict`` put separate tensors in its place."""
        bucket = self._buckets.get(key)
        state = self.optimizer.state
        names = ["momentum_buffer"] + (["normuon_second_moment"] if recipe.normuon_beta2 else [])
        if bucket is not None and len(bucket.params) == len(params):
            current = [state[p].get(n) for p in params for n in names]
            if all(p is q for p, q in zip(bucket.params, params, strict=True)) and all(
                a is b for a, b in zip(current, bucket.views, strict=True)
            ):
                return bucket
        momentum = torch.stack([_state(state[p], "momentum_buffer", torch.zeros_like, p)
                                for p in params])  # fmt: skip
        moments = None
        if recipe.normuon_beta2:
            moments = torch.stack([_state(state[p], "normuon_second_moment", _row_moments, p)
                                   for p in params])  # fmt: skip
        bucket = _Bucket(list(params), momentum, moments)
        for i, param in enumerate(params):
            state[param]["momentum_buffer"] = momentum[i]
            if moments is not None:
                state[param]["normuon_second_moment"] = moments[i]
        bucket.views = [state[p][n] for p in params for n in names]
        self._buckets[key] = bucket
        return bucket


def muon_step(optimizer: torch.optim.Muon, skip: Tensor | None = None) -> None:
    """One eager update of every parameter of ``optimizer`` that has a gradient (see
    :class:`BatchedMuon`, which keeps its stacked states between steps).

    Beside torch's settings a group may hold gptlab's variants (``optim.ns_coefficients``,
    ``normuon``, ``cautious_weight_decay``): ``ns_schedule`` (Polar Express's coefficients),
    ``normuon_beta2`` (NorMuon's row normalisation, its state ``normuon_second_moment``), and
    ``cautious_wd`` (decay only where the update has the weight's sign, Chen et al. 2025)."""
    BatchedMuon(optimizer).step(skip)


def _row_moments(param: Tensor) -> Tensor:
    return torch.zeros(param.size(0), 1, device=param.device, dtype=torch.float32)


def _state(state: dict[str, Tensor], name: str, make: Callable[[Tensor], Tensor],
           param: Tensor) -> Tensor:  # fmt: skip
    if name not in state:
        state[name] = make(param)
    return state[name]
