"""Stop at a target validation loss and report how long, how many tokens and steps it took.

The measure of the GPT-2 speedrun: the training time a setup needs to reach a validation loss.
The training time is the run's own (:class:`~gptlab.training.metrics.StepMetrics`): from the end
of the first optimizer step (which holds torch.compile's compiling, excluded as the speedrun
excludes it), without validation passes, checkpoint saves and text samples.
"""

from __future__ import annotations

import logging
import math

import lightning as L

from gptlab.errors import ConfigError

log = logging.getLogger(__name__)


class TargetLoss(L.Callback):
    """``val_loss``: the target (``null``: off). At each validation at or below it, training stops
    and ``time_to_target_s``, ``tokens_to_target``, ``steps_to_target`` are recorded (loggers,
    ``result.json``); a run that ends above it records ``target_reached: 0`` and its
    ``training_s``."""

    def __init__(self, val_loss: float | None = None, monitor: str = "val/loss") -> None:
        if val_loss is not None and not (
            isinstance(val_loss, (int, float)) and math.isfinite(val_loss)
        ):
            raise ConfigError(f"callbacks.target.val_loss={val_loss!r} must be a number or null")
        self.target = val_loss
        self.monitor = monitor
        self.reached = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target is None or trainer.sanity_checking or self.reached:
            return
        value = pl_module.metrics.latest.get(self.monitor)
        step = trainer.global_step
        if value is None or value > self.target or step == 0 or trainer.state.fn != "fit":
            return
        self.reached = True
        metrics = pl_module.metrics
        results = {
            "target_reached": 1.0,
            "time_to_target_s": metrics.training_s,
            "tokens_to_target": metrics.tokens_at(step),
            "steps_to_target": float(step),
        }
        metrics.write(results, step=step)
        log.info(
            "%s %.4f <= target %.4f at step %d: %.1f s of training, %d tokens",
            self.monitor, value, self.target, step, metrics.training_s, metrics.tokens_at(step),
        )  # fmt: skip
        pl_module.stop_reason = "target"
        trainer.should_stop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target is not None and not self.reached:
            # missed: the training time of the whole run, measured the same way
            training_s = pl_module.metrics.stop_clock()
            results = {"target_reached": 0.0, "training_s": training_s}
            pl_module.metrics.write(results, step=trainer.global_step)
