"""Which training batches end an optimizer step, through public Lightning state only."""

from __future__ import annotations

from typing import Any


class OptimizerSteps:
    """In ``on_train_batch_end``: did this batch end an optimizer step? With gradient accumulation
    most batches do not. ``trainer.global_step`` counts optimizer steps, so a step happened exactly
    when it moved since the last batch. Call :meth:`start` in ``on_train_start`` (a resumed run
    starts at its checkpoint's step)."""

    def __init__(self) -> None:
        self.seen: int | None = None

    def start(self, trainer: Any) -> None:
        self.seen = trainer.global_step

    def stepped(self, trainer: Any) -> bool:
        step = trainer.global_step
        moved = self.seen is None or step != self.seen
        self.seen = step
        return moved


def row_step(global_step: int) -> int:
    """The ``step`` of a metrics row written after ``global_step`` optimizer steps, as Lightning
    writes its own rows (0-indexed: the row of the first step is step 0). gptlab's rows written
    straight to the loggers use it too, so one file has one convention."""
    return max(global_step - 1, 0)


def logging_step(trainer: Any, global_step: int) -> bool:
    """Whether the row of ``global_step`` optimizer steps is one Lightning sends to the loggers:
    every ``trainer.log_every_n_steps`` steps, and never when it is 0 (step logging off)."""
    every = trainer.log_every_n_steps
    return bool(every) and global_step % every == 0
