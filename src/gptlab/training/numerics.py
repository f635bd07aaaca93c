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


class NonFiniteSteps(torch.nn.Module):
    """Optimizer steps whose loss or gradient norm is not finite: the update skipped on the device
    (no host sync), counted, and reported when the count reaches the host (at a logging step).

    ``skip``: training goes on, with a warning naming the first such step. ``stop``: every later
    update is skipped too (the weights stay the last good ones), training stops when the host
    learns of it, saves ``last.ckpt``, and the run ends with :class:`NonFiniteError`.
    """

    def __init__(self, policy: str = "skip") -> None:
        super().__init__()
        self.policy = check_policy(policy)
        # on the device, so that counting costs no host sync; saved in checkpoints by hand
        self.register_buffer("skipped", torch.zeros((), dtype=torch.long), persistent=False)
        self.register_buffer("first", torch.tensor(-1), persistent=False)
        self.reported = 0
        self.stopped_at: int | None = None  # set when the stop policy ended training

    def guard(
        self,
        optimizer: torch.optim.Optimizer,
        norm: torch.Tensor,
        loss: torch.Tensor | None,
        step: int,
    ) -> None:
        """Make the coming optimizer step a no-op if ``norm`` or ``loss`` is not finite."""
        bad = ~torch.isfinite(norm)
        if loss is not None:
            bad |= ~torch.isfinite(loss)
        if self.policy == "stop":
            bad |= self.skipped > 0  # after the first fault the weights stay the last good ones
        self.first.copy_(torch.where(bad & (self.first < 0), step, self.first))
        self.skipped += bad
        skip_update(optimizer, bad)

    def counted(self, skipped: int) -> bool:
        """The host learned the count of skipped steps; True when training must stop now. Reads
        the first skipped step (a sync) only when the count changed: a rare event."""
        if skipped == self.reported:
            return False
        self.reported = skipped
        first = int(self.first)
        if self.policy == "stop":
            self.stopped_at = first
            return True
        from lightning.pytorch.utilities import rank_zero_warn

        rank_zero_warn(
            f"skipped {skipped} optimizer step(s) so far with a non-finite loss or gradient norm "
            f"(first at step {first}); module.nonfinite=stop stops at the first one instead"
        )
        return False

    def error(self, checkpoint_dir: str | None) -> NonFiniteError | None:
        """The error that ends a run the stop policy stopped (None when it did not)."""
        if self.stopped_at is None:
            return None
        where = f" in {checkpoint_dir}/last.ckpt" if checkpoint_dir else ""
        return NonFiniteError(
            f"non-finite loss or gradient norm at step {self.stopped_at} "
            f"(module.nonfinite=stop): training stopped; the weights from before that step are "
            f"saved{where}. Lower optim.lr, raise optim.warmup_steps or set trainer.gradient_clip_val; "
            f"resume with ckpt_path=last, or set module.nonfinite=skip to skip such steps"
        )

    def checkpoint_state(self) -> dict[str, int]:
        return {"skipped_steps": int(self.skipped), "first_skipped_step": int(self.first)}

    def load_checkpoint_state(self, state: dict[str, int]) -> None:
        self.skipped.fill_(state.get("skipped_steps", 0))
        self.first.fill_(state.get("first_skipped_step", -1))
        self.reported = int(self.skipped)


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
