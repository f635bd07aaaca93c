"""What a person sees of a run while it trains: steps out of ``max_steps``, time, loss, throughput.

On a terminal, one live line (Rich). Anywhere else (a SLURM log, ``nohup``, a pipe, CI) a plain
line for every metrics row, on stdout and in ``train.log``::

    step 20/300 | 0:00:12 elapsed, 0:02:48 left | loss 7.0261 | 1,234 tok/s | val 7.5617
    validation at step 50: val/loss 7.1235 | val/ppl 1240.20 | val/bpb 2.8612 (1.9 s)

and the validation lines above the live line on a terminal.

The values are the logged ones (:class:`~gptlab.training.metrics.StepMetrics` rows, which reach
the host without waiting for the GPU): ``loss`` is ``train/loss``, the mean over every micro-batch
since the previous row; ``tok/s`` is ``perf/tokens_per_s`` of that window (training time only);
``val`` the last ``val/loss``. Lightning's own bars count the batches of an epoch, meaningless
when training is stopped by steps.
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

log = logging.getLogger("progress")

SHOWN = (
    ("train/loss", "loss {:.4f}"),
    ("perf/tokens_per_s", "{:,.0f} tok/s"),
    ("val/loss", "val {:.4f}"),
)


def emit(line: str) -> None:
    """A progress line to the run's log handlers (the console and train.log in a run of the
    command line); printed where logging is not set up at all (a notebook)."""
    if logging.getLogger().hasHandlers():
        log.info(line)
    else:
        print(line, flush=True)


def describe(values: dict[str, float]) -> str:
    return " | ".join(fmt.format(values[k]) for k, fmt in SHOWN if k in values)


def validation_line(step: int, row: dict[str, float], seconds: float) -> str:
    formats = {"val/loss": "{:.4f}", "val/ppl": "{:.2f}", "val/bpb": "{:.4f}"}
    values = " | ".join(f"{k} {fmt.format(row[k])}" for k, fmt in formats.items() if k in row)
    return f"validation at step {step}: {values} ({seconds:.1f} s)"


def clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(max(seconds, 0.0))))


class StepProgressBar(ProgressBar):
    """``live``: the Rich line (``null``: when stdout is a terminal)."""

    def __init__(self, live: bool | None = None) -> None:
        super().__init__()
        self.enabled = True
        self.live = live
        self.progress: Any = None  # rich.progress.Progress while a live line is shown
        self.task: Any = None
        self.shown: dict[str, float] = {}  # the newest value of each shown metric
        self.total: int | None = None
        self._started_at = 0.0
        self._first_step = 0
        self._validation: tuple[int, dict[str, float]] | None = None  # its time comes after

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.enabled or not trainer.is_global_zero:
            return
        self.total = trainer.max_steps if trainer.max_steps > 0 else None
        self._started_at, self._first_step = time.monotonic(), trainer.global_step
        pl_module.metrics.subscribers.append(self.on_row)
        live = self.live if self.live is not None else sys.stdout.isatty()
        if live:
            self.progress = _live_line(self.total, trainer.global_step)
            self.task = self.progress.tasks[0].id

    def on_row(self, step: int, row: dict[str, float]) -> None:
        """A metrics row was written: show its values; off a terminal, as one line."""
        if "val/loss" in row:
            self._validation = (step, row)
        if "perf/val_s" in row and self._validation is not None:  # the validation's time
            self.say(validation_line(*self._validation, row["perf/val_s"]))
            self._validation = None
        shown = {k: row[k] for k, _ in SHOWN if k in row}
        if not shown:
            return
        self.shown.update(shown)
        if self.progress is not None:
            self.progress.update(self.task, values=describe(self.shown))
        elif "train/loss" in row:
            emit(self.line(step))

    def say(self, line: str) -> None:
        """A line of its own: above the live line on a terminal, else as a log line."""
        if self.progress is not None:
            self.progress.console.print(line, highlight=False)
        else:
            emit(line)

    def line(self, step: int) -> str:
        elapsed = time.monotonic() - self._started_at
        done = step - self._first_step
        of = f"step {step}/{self.total}" if self.total else f"step {step}"
        times = f"{clock(elapsed)} elapsed"
        if self.total and done > 0:
            times += f", {clock(elapsed / done * (self.total - step))} left"
        return " | ".join(part for part in (of, times, describe(self.shown)) if part)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        if self.progress is not None and pl_module.metrics.step_ended(trainer):
            self.progress.update(self.task, completed=trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stop()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.stop()
        if self.on_row in pl_module.metrics.subscribers:
            pl_module.metrics.subscribers.remove(self.on_row)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _live_line(total: int | None, completed: int) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("step"),
        MofNCompleteColumn(),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("<"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[values]}"),
    )
    progress.start()
    progress.add_task("train", total=total, completed=completed, values="")
    return progress
