"""``last.ckpt`` every N optimizer steps, when training ends, and when the job is told to stop."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from gptlab.preemption import StopRequest, requeue_slurm_job

log = logging.getLogger(__name__)


def _nothing_to_broadcast() -> None:
    return None


class LastCheckpoint(ModelCheckpoint):
    """Writes only ``<dirpath>/last.ckpt``: every ``every_n_train_steps`` steps, at the end, and
    on a ``stop_signals`` signal (SLURM's warning before a time limit or preemption).

    On such a signal the run finishes its current step, saves ``last.ckpt`` and stops cleanly (exit
    code 0); for ``requeue_signals`` inside a SLURM job it also runs ``scontrol requeue``, and the
    job's next start resumes from ``last.ckpt`` (``ckpt_path=last``). With several processes the
    ranks agree on stopping every ``check_every_n_steps`` steps (one tiny all-reduce); a single
    process checks every step for free. Writes are atomic (:mod:`gptlab.checkpoint_io`).
    """

    def __init__(
        self,
        dirpath: str,
        every_n_train_steps: int = 500,
        stop_signals: Sequence[str] | None = ("SIGTERM", "SIGUSR1"),
        requeue_signals: Sequence[str] | None = ("SIGUSR1",),
        check_every_n_steps: int = 10,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            every_n_train_steps=every_n_train_steps,
            save_last=True,
            save_top_k=0,
            save_on_train_epoch_end=False,
        )
        self.stop_request = StopRequest(list(stop_signals or []), list(requeue_signals or []))
        self.check_every_n_steps = max(1, check_every_n_steps)
        self.stopped_by_signal = False

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"  # distinct from the best-k ModelCheckpoint's state in checkpoints

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.stop_request.signals:
            return
        # after Lightning installed its own handlers (in Trainer._run), so these replace them
        self.stop_request.install()
        # Lightning broadcasts its SIGTERM flag and reads it back on every training batch when
        # there are several processes: a collective and a host sync per step. Its flag can no
        # longer be set (the handler above replaced Lightning's), so the broadcast is skipped.
        epoch_loop = trainer.fit_loop.epoch_loop
        if hasattr(epoch_loop, "_broadcast_sigterm_tensor"):
            epoch_loop._broadcast_sigterm_tensor = _nothing_to_broadcast

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, idx)
        if trainer.fit_loop._should_accumulate() or self.stopped_by_signal:
            return
        if trainer.world_size > 1 and trainer.global_step % self.check_every_n_steps:
            return
        stop, requeue = self.stop_request.agreed(trainer.world_size, pl_module.device)
        if not stop:
            return
        self._save_last(trainer)
        self.stopped_by_signal = True
        trainer.should_stop = True
        log.warning(
            "stopped on a signal at step %d; %s saved", trainer.global_step, self.last_model_path
        )
        if requeue and trainer.is_global_zero:
            requeue_slurm_job()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save_last(trainer)
        self.stop_request.restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.stop_request.restore()  # also after an exception

    def _save_last(self, trainer: L.Trainer) -> None:
        if trainer.global_step and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
