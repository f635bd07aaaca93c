"""Settings derived from the machine at run time, computed in one place."""

from __future__ import annotations

import torch


def cuda_in_use(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str | int | None, accelerator: str) -> str | int:
    """``auto`` -> bf16-mixed on GPUs that support it, 16-mixed on older GPUs, 32-true on CPU."""
    if precision not in (None, "auto"):
        return precision
    if not cuda_in_use(accelerator) or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def configure_matmul(accelerator: str) -> None:
    """TF32 for float32 matrix products on Ampere and newer: much faster, precise enough."""
    if cuda_in_use(accelerator):
        torch.set_float32_matmul_precision("high")


def host_scalar(value: float) -> torch.Tensor:
    """A Python number as a CPU tensor, for ``LightningModule.log`` on every step.

    Given a bare number, Lightning makes a tensor on the module's device: on a GPU that is a blocking
    host-to-device copy, which waits for all queued GPU work, a host sync on every step. float64
    keeps token counts exact beyond 2^24.
    """
    return torch.tensor(value, dtype=torch.float64)
