"""``last.ckpt`` every N optimizer steps and when training ends, for resuming a run."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """Writes only ``<dirpath>/last.ckpt``: every ``every_n_train_steps`` steps and at the end.

    Lightning writes checkpoints to a temporary file and renames it (fsspec transaction), so a
    process killed while saving leaves the previous ``last.ckpt`` intact.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int = 500) -> None:
        super().__init__(
            dirpath=dirpath,
            every_n_train_steps=every_n_train_steps,
            save_last=True,
            save_top_k=0,
            save_on_train_epoch_end=False,
        )

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"  # distinct from the best-k ModelCheckpoint's state in checkpoints

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
