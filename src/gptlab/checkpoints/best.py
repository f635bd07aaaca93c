"""The best checkpoints by the validation loss, where a non-finite loss never counts as best."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint


class BestCheckpoint(ModelCheckpoint):
    """Lightning's best-k ``ModelCheckpoint``. Lightning keeps a checkpoint whose monitored value
    is NaN while it has fewer than k (scored as infinity), so a run whose validation went NaN
    first could list it as its best; here such a value is never a candidate. The time a save
    takes after a validation is left out of tokens/s, as ``last.ckpt``'s is."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with pl_module.metrics.paused():
            super().on_validation_end(trainer, pl_module)

    def check_monitor_top_k(self, trainer: L.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is not None and not bool(torch.isfinite(torch.as_tensor(current)).all()):
            return False
        return super().check_monitor_top_k(trainer, current)
