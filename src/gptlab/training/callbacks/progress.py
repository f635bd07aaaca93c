"""The progress line a run shows: optimizer steps out of ``max_steps``, time, loss, throughput.

Lightning's bars count the batches of an epoch (meaningless when training is stopped by steps, as
here) and read their values every batch. This one counts optimizer steps and shows values read at
logging steps only (the loss and the training throughput of the last logging window).
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gptlab.training.steps import OptimizerSteps, logging_step

SHOWN = (("loss", "loss {:.4f}"), ("val/loss", "val {:.4f}"), ("tok/s", "{:,.0f} tok/s"))


class StepProgressBar(ProgressBar):
    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.progress: Progress | None = None
        self.task: Any = None
        self.steps = OptimizerSteps()

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.steps.start(trainer)
        if not self.enabled or not trainer.is_global_zero:
            return
        self.progress = Progress(
            TextColumn("step"),
            MofNCompleteColumn(),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("<"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[values]}"),
        )
        self.progress.start()
        total = trainer.max_steps if trainer.max_steps > 0 else None
        self.task = self.progress.add_task("train", total=total, values="")
        self.progress.update(self.task, completed=trainer.global_step)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if not self.steps.stepped(trainer) or self.progress is None:
            return
        step = trainer.global_step
        values = {}
        if logging_step(trainer, step):  # values are on the host only then
            values["values"] = describe(self.get_metrics(trainer, pl_module))
        self.progress.update(self.task, completed=step, **values)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.progress is not None:
            self.progress.update(self.task, values=describe(self.get_metrics(trainer, pl_module)))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stop()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.stop()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def describe(metrics: dict[str, Any]) -> str:
    return " | ".join(fmt.format(float(metrics[k])) for k, fmt in SHOWN if k in metrics)
