"""Clipping by global norm. With fused Adam/AdamW the scaling happens inside the optimizer's own
kernel, so clipping costs one read of the gradients (the norm) instead of a read, then a read and a
write (the norm, then multiplying every gradient)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def folds_into_step(optimizer: torch.optim.Optimizer, precision: str) -> bool:
    """True for fused Adam/AdamW outside fp16 loss scaling, whose GradScaler owns ``grad_scale``."""
    fused_adam = isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW)
    return fused_adam and bool(optimizer.defaults.get("fused")) and precision != "16-mixed"


def clip_in_step(
    optimizer: torch.optim.Optimizer, parameters: Iterable[torch.Tensor], max_norm: float
) -> torch.Tensor:
    """The gradients' global L2 norm (before clipping); the coming ``optimizer.step()`` scales them
    by ``torch.nn.utils.clip_grad_norm_``'s factor, ``min(1, max_norm / (norm + 1e-6))``.

    Fused Adam and AdamW divide every gradient by the 0-d tensor ``optimizer.grad_scale`` inside
    their kernel (the mechanism torch's GradScaler uses to unscale). The factor stays on the
    device: no host sync. A non-finite norm gives a non-finite divisor; pair it with
    :func:`~gptlab.training.numerics.skip_update`, which makes the step skip such an update.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, foreach=True)
    factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)  # clip_grad_norm_'s own arithmetic
    optimizer.grad_scale = (1.0 / factor).to(torch.float32)
    return norm
