"""Stop at a target validation loss and report how long, how many tokens and steps it took.

The measure of the GPT-2 speedrun: the training time a setup needs to reach a validation loss.
Training time here runs from the end of the first optimizer step (which holds torch.compile's
compiling, excluded as the speedrun excludes it) and leaves out validation passes; it includes
everything else a step costs (data, logging, checkpoint snapshots).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L

from gptlab.training.callbacks.throughput import synchronized_clock
from gptlab.training.steps import OptimizerSteps, row_step

log = logging.getLogger(__name__)


class TargetLoss(L.Callback):
    """``val_loss``: the target (``null``: off). At each validation at or below it, training stops
    and ``time_to_target_s``, ``tokens_to_target``, ``steps_to_target`` are recorded (loggers,
    ``result.json``); a run that ends above it records ``target_reached: 0``."""

    def __init__(self, val_loss: float | None = None, monitor: str = "val/loss") -> None:
        if val_loss is not None and not (
            isinstance(val_loss, (int, float)) and math.isfinite(val_loss)
        ):
            from gptlab.errors import ConfigError

            raise ConfigError(f"callbacks.target.val_loss={val_loss!r} must be a number or null")
        self.target = val_loss
        self.monitor = monitor
        self.results: dict[str, float] = {}
        self.training_s = 0.0
        self.started: float | None = None  # the clock runs while training
        self.steps = OptimizerSteps()
        self.tokens_per_step = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.steps.start(trainer)
        self.first_step = trainer.global_step + 1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if not self.tokens_per_step:
            self.tokens_per_step = (
                batch[0].numel() * trainer.world_size * trainer.accumulate_grad_batches
            )
        stepped = self.steps.stepped(trainer)
        if self.target is not None and stepped and trainer.global_step == self.first_step:
            self.started = synchronized_clock(trainer)  # compiled and warmed up: start the clock

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.started is not None:
            self.training_s += synchronized_clock(trainer) - self.started
            self.started = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target is None or trainer.sanity_checking or self.results.get("target_reached"):
            return
        value = trainer.callback_metrics.get(self.monitor)
        step = trainer.global_step
        if value is not None and float(value) <= self.target and step > 0:
            self.results = {
                "target_reached": 1.0,
                "time_to_target_s": self.training_s,
                "tokens_to_target": float(step * self.tokens_per_step),
                "steps_to_target": float(step),
            }
            self.publish(trainer)
            log.info(
                "%s %.4f <= target %.4f at step %d: %.1f s of training, %d tokens",
                self.monitor, float(value), self.target, step, self.training_s, step * self.tokens_per_step,
            )  # fmt: skip
            trainer.should_stop = True
        elif trainer.state.fn == "fit" and not trainer.should_stop:
            self.started = synchronized_clock(trainer)  # training goes on

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.target is not None and not self.results:
            if self.started is not None:
                self.training_s += synchronized_clock(trainer) - self.started
                self.started = None
            # missed: the training time of the whole run, measured the same way
            self.results = {"target_reached": 0.0, "training_s": self.training_s}
            self.publish(trainer)

    def publish(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(self.results, step=row_step(trainer.global_step))
