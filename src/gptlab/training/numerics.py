"""Non-finite losses and gradients: found on the device, the optimizer update skipped, counted."""

from __future__ import annotations

import numpy as np
import torch

from gptlab.errors import ConfigError, GptlabError

POLICIES = ("skip", "stop")


class NonFiniteError(GptlabError):
    """Training stopped on a non-finite loss or gradient norm (``module.nonfinite=stop``)."""


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ConfigError(f"module.nonfinite={policy!r} must be one of {list(POLICIES)}")
    return policy


def skip_update(optimizer: torch.optim.Optimizer, skip: torch.Tensor) -> None:
    """Make the coming ``optimizer.step()`` leave parameters and optimizer state untouched when
    ``skip`` (a 0-d bool tensor) is true.

    Fused Adam/AdamW read ``optimizer.found_inf`` on the device, the mechanism torch's GradScaler
    uses: the decision never leaves the GPU, so there is no host sync. Other optimizers (CPU runs)
    read the flag on the host, where that costs nothing, and drop the gradients: optimizers skip
    parameters without one.
    """
    if hasattr(optimizer, "skip_next_step"):  # an optimizer that knows how (optim=muon)
        optimizer.skip_next_step(skip)
    elif optimizer.defaults.get("fused"):
        optimizer.found_inf = skip.float()
    elif skip.item():
        optimizer.zero_grad(set_to_none=True)


def nonfinite_tensors(state_dict: dict[str, object]) -> list[str]:
    """Names of floating-point tensors in ``state_dict`` that hold NaN or infinity."""
    return [
        name
        for name, value in state_dict.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def step_seed(seed: int, rank: int, step: int, batch_idx: int) -> int:
    """The seed of one micro-batch: a function of counters that checkpoints restore, so dropout
    after a resume draws the same masks as the uninterrupted run."""
    return int(np.random.SeedSequence([seed, rank, step, batch_idx]).generate_state(1)[0])


def seed_step(seed: int, device: torch.device) -> None:
    """Seed the random state dropout draws from on ``device``: the CPU generator and, on a GPU, that
    GPU's. ``torch.manual_seed`` would seed every backend, and for the ones never initialised (XPU,
    MTIA; CUDA on a CPU run) it formats a stack trace to queue the call: about 0.8 ms of host time
    per step on a CPU."""
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):  # CUDA is initialised by then: seeded at once
            torch.cuda.manual_seed(seed)
