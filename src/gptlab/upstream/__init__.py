"""The one place where gptlab reaches into private Lightning, Hydra and torch internals.

Each adapter below exists because no public hook does the job (the docstrings say why). Each first
checks that the upstream name it relies on still exists, and fails with a clear message naming it
when an upgrade removed it, so a changed internal shows up as one line, not as silent misbehaviour.
``tests/test_internals.py`` exercises every adapter against the installed versions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any


class UpstreamChanged(RuntimeError):
    """An internal of Lightning/Hydra/torch that gptlab adapts to is gone or changed."""


def require(owner: Any, name: str, params: Sequence[str] | None = None) -> Any:
    """``owner.name``, checking that it exists (and takes ``params``, when given)."""
    where = getattr(owner, "__name__", type(owner).__name__)
    if not hasattr(owner, name):
        raise UpstreamChanged(
            f"{where}.{name} no longer exists in the installed version; gptlab.upstream adapts "
            "to it: pin the version gptlab supports (pyproject.toml) or update the adapter"
        )
    value = getattr(owner, name)
    if params is not None:
        found = list(inspect.signature(value).parameters)
        if found[: len(params)] != list(params):
            raise UpstreamChanged(
                f"{where}.{name} now takes {found}, gptlab.upstream expects {list(params)}"
            )
    return value


# --- Lightning ---------------------------------------------------------------------------------


def skip_sigterm_broadcast(trainer: Any) -> None:
    """With several processes Lightning broadcasts a "SIGTERM received" flag and reads it back with
    ``.item()`` on every training batch: a collective and a host sync per step. gptlab's own
    signal handling (:class:`~gptlab.training.callbacks.LastCheckpoint`) replaces Lightning's
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


# --- torch -------------------------------------------------------------------------------------


def compiled_in_place(module: Any) -> bool:
    """Whether ``module.compile()`` was called on it (torch keeps that in a private field)."""
    return require(module, "_compiled_call_impl") is not None


# --- Hydra -------------------------------------------------------------------------------------


def report_hydra_errors_with(handler: Callable[[BaseException], None]) -> None:
    """Let ``handler(error)`` report what a Hydra command raises (config composition errors
    included, which happen before the task function runs); when it returns, Hydra reports as usual.

    Hydra prints its own multi-line report from ``hydra._internal.utils.run_and_report``, which
    ``hydra.main`` calls by name; it has no hook for another format.
    """
    from hydra._internal import utils as hydra_utils

    original = require(hydra_utils, "run_and_report", ["func"])
    if getattr(original, "gptlab", False):
        return

    def run_and_report(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except Exception as err:
            handler(err)
            return original(lambda failure=err: _reraise(failure))

    run_and_report.gptlab = True
    hydra_utils.run_and_report = run_and_report


def _reraise(err: BaseException) -> None:
    raise err
