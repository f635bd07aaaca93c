"""Lightning internals: the per-step SIGTERM broadcast, the batch counter, DDP's stream and relaunch
command, and the atomic save a benchmark compares against."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from gptlab.upstream import require


def skip_sigterm_broadcast(trainer: Any) -> None:
    """With several processes Lightning broadcasts a "SIGTERM received" flag and reads it back with
    ``.item()`` on every training batch: a collective and a host sync per step. gptlab's own
    signal handling (:class:`~gptlab.checkpoints.last.LastCheckpoint`) replaces Lightning's
    handler, so that flag can never be set; the broadcast is turned into a no-op for this loop."""
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

    require(_TrainingEpochLoop, "_broadcast_sigterm_tensor", ["self"])
    trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor = lambda: None


def micro_batches_trained(trainer: Any) -> int:
    """Training micro-batches processed since the run began (restored on resume), for the data
    module's resume state. Lightning keeps this count only in its loop's progress tracker; no
    public property has it (``global_step`` counts optimizer steps, which accumulation and the
    last step of an epoch make differ from batches)."""
    progress = require(trainer.fit_loop.epoch_loop, "batch_progress")
    return int(progress.total.processed)


def ddp_strategy(**kwargs: Any) -> Any:
    """Lightning's DDPStrategy, building the DDP wrapper on the current CUDA stream.

    Lightning builds it inside a fresh side stream (``DDPStrategy._setup_model``); the gradient
    accumulation nodes then live on another stream than the backward pass, and PyTorch warns that
    this "may incur unnecessary synchronization" on every step. There is no option for the stream.
    """
    from lightning.pytorch.strategies import DDPStrategy
    from torch.nn.parallel import DistributedDataParallel

    require(DDPStrategy, "_setup_model", ["self", "model"])
    require(DDPStrategy, "determine_ddp_device_ids")

    class SameStreamDDPStrategy(DDPStrategy):
        def _setup_model(self, model: Any) -> DistributedDataParallel:
            return DistributedDataParallel(
                model, device_ids=self.determine_ddp_device_ids(), **self._ddp_kwargs
            )

    kwargs.setdefault("gradient_as_bucket_view", True)  # gradients live in the buckets: no copy
    return SameStreamDDPStrategy(**kwargs)


def ddp_options(strategy: Any) -> dict[str, Any]:
    """The keyword arguments a DDP strategy hands to ``DistributedDataParallel`` (for tests)."""
    return dict(require(strategy, "_ddp_kwargs"))


def use_subprocess_command(command: Callable[[int], tuple[Sequence[str], str]]) -> None:
    """Make Lightning start DDP ranks > 0 with ``command(local_rank)``.

    Lightning's own ``_hydra_subprocess_cmd`` repeats ``sys.argv``: inside a multirun that holds
    ``-m a=1,2``, so every child rank starts a sweep of its own (Lightning issue 11300; the fix,
    PR 18175, was never merged). Both launcher modules (fabric's and pytorch's) look it up by name.
    """
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as pytorch_launcher

    for launcher in (fabric_launcher, pytorch_launcher):
        require(launcher, "_hydra_subprocess_cmd", ["local_rank"])
        launcher._hydra_subprocess_cmd = command


def lightning_atomic_save() -> Callable[[Any, str], None]:
    """Lightning's own "atomic" checkpoint save (stages the bytes in the system temp folder), which
    ``python -m gptlab.benchmarks.checkpoint`` times against gptlab's write-beside-then-rename."""
    from lightning.fabric.utilities import cloud_io

    return require(cloud_io, "_atomic_save", ["checkpoint", "filepath"])
