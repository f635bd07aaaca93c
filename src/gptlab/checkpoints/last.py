"""``last.ckpt`` every N optimizer steps, when training ends, and when the job is told to stop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L

from gptlab.checkpoints.names import LAST
from gptlab.preemption import StopRequest, requeue_slurm_job
from gptlab.upstream.lightning import skip_sigterm_broadcast

log = logging.getLogger(__name__)


class LastCheckpoint(L.Callback):
    """Writes ``<dirpath>/last.ckpt``: every ``every_n_train_steps`` steps, at the end, and on a
    ``stop_signals`` signal (SLURM's warning before a time limit or preemption).

    On such a signal the run finishes its current step, saves ``last.ckpt`` and stops cleanly (exit
    code 0), without the validation, sample or test that end a finished run; for ``requeue_signals`` inside a SLURM job it also runs ``scontrol requeue``, and the
    job's next start resumes from ``last.ckpt`` (``ckpt_path=last``). With several processes the
    ranks agree on stopping every ``check_every_n_steps`` steps (one tiny all-reduce); a single
    process checks every step for free. Writes go through the Trainer's checkpoint IO, which
    gptlab makes atomic (:mod:`gptlab.checkpoints.io`). ``pl_module`` is a
    :class:`~gptlab.training.module.GPTModule` (its ``metrics`` say when a step ended).
    """

    def __init__(
        self,
        dirpath: str,
        every_n_train_steps: int = 500,
        stop_signals: Sequence[str] | None = ("SIGTERM", "SIGUSR1", "SIGINT"),
        requeue_signals: Sequence[str] | None = ("SIGUSR1",),
        check_every_n_steps: int = 10,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self.stop_request = StopRequest(list(stop_signals or []), list(requeue_signals or []))
        self.check_every_n_steps = max(1, check_every_n_steps)
        self.stopped_by_signal = False
        self.saved_step: int | None = None

    @property
    def last_model_path(self) -> Path:
        return self.dirpath / LAST

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.saved_step = trainer.global_step  # a resumed run's checkpoint is this step's
        if not self.stop_request.signals:
            return
        # after Lightning installed its own handlers (in Trainer.fit), so these replace them;
        # Lightning's SIGTERM flag can then never be set and its per-step broadcast is dropped
        self.stop_request.install()
        skip_sigterm_broadcast(trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if not pl_module.metrics.step_ended(trainer) or self.stopped_by_signal:
            return
        step = trainer.global_step
        if self.every_n_train_steps and step % self.every_n_train_steps == 0:
            self.save(trainer, pl_module)
        if trainer.world_size > 1 and step % self.check_every_n_steps:
            return
        stop, requeue = self.stop_request.agreed(trainer.world_size, pl_module.device)
        if not stop:
            return
        self.save(trainer, pl_module)
        self.stopped_by_signal = True
        pl_module.stop_reason = "signal"
        trainer.should_stop = True
        # Lightning validates when a run stops early; SLURM's grace period may not hold a whole
        # validation pass (and the job may be killed in it), so the way out is step, save, exit
        trainer.limit_val_batches = 0
        log.warning("stopped on a signal at step %d; %s saved", step, self.last_model_path)
        if requeue and trainer.is_global_zero:
            requeue_slurm_job()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer, pl_module)
        self.stop_request.restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.stop_request.restore()  # also after an exception

    def save(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """``last.ckpt`` of this step, once (every rank calls it: FSDP gathers the shards); the
        time it takes is not training time."""
        if trainer.global_step and self.saved_step != trainer.global_step:
            with pl_module.metrics.paused():
                trainer.save_checkpoint(self.last_model_path, weights_only=False)
            self.saved_step = trainer.global_step

    def state_dict(self) -> dict[str, Any]:
        return {"dirpath": str(self.dirpath)}
