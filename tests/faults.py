"""Callbacks that break a run on purpose at a given optimizer step, for the fault-handling tests."""

from __future__ import annotations

import lightning as L
import torch


class NaNGradient(L.Callback):
    """Puts a NaN into one gradient just before the optimizer step number ``at_step``."""

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == self.at_step:
            next(p for p in pl_module.parameters() if p.grad is not None).grad.view(-1)[0] = float(
                "nan"
            )


class NaNWeights(L.Callback):
    """Makes one weight NaN after the optimizer step number ``at_step`` (a fault the gradient
    check cannot see), to check that no checkpoint is written from such weights."""

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.at_step:
            with torch.no_grad():
                pl_module.model.ln_f.weight[0] = float("nan")


class SlowValidation(L.Callback):
    """Makes every validation pass take at least ``seconds`` longer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        import time

        time.sleep(self.seconds)


class SlowStart(L.Callback):
    """Makes the start of fit (before the first step, before the stop-signal handlers of
    training are installed) take ``seconds`` longer: a window a test can signal into."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def setup(self, trainer, pl_module, stage) -> None:
        import time

        time.sleep(self.seconds)
