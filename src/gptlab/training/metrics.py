"""The run's one writer of metric rows: what a training step did, measured without waiting for the GPU.

:class:`StepMetrics` is driven by :class:`~gptlab.training.module.GPTModule`'s hooks and is the
only code that sends metrics to the loggers; callbacks read it (``pl_module.metrics``) and hand it
their own rows (HellaSwag, time to target). It knows:

- **which batches end an optimizer step** (with gradient accumulation most do not): ``step_ended``;
- **the logging steps**: every ``trainer.log_every_n_steps`` optimizer steps, and always the first
  step of a start and the last one (``log_every_n_steps=0`` turns step rows off);
- **tokens**: per step from the first batch (micro-batch x world size x accumulation), or, under
  a batch-size schedule (``data.batch_size_schedule``), from the data module's schedule;
- **values from the GPU without a host sync**: at a logging step the module's device scalars are
  copied into pinned host memory behind the kernels that compute them, and a CUDA event is
  recorded; the row is written at the next logging step, when the copy has long landed, under its
  own step. On a CPU it is written at once;
- **training time**: the clock starts when the first optimizer step ends (compiling excluded) and
  stops during every pause (validation, checkpoint saves, text samples, HellaSwag:
  :meth:`paused`); tokens/s and MFU of each logging window use it, and so does the time to a
  target loss.

A row's ``step`` is the number of optimizer steps done (the row after 50 steps is step 50), in
every logger, W&B's own step included.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from gptlab.training.peaks import peak_flops


def synchronized_clock(device: torch.device) -> float:
    """The time once the GPU has finished the work queued so far (the boundary of a pause)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@dataclass
class _Mark:
    """One logging step: its values (some still on their way from the GPU) and when it ended."""

    step: int
    values: dict[str, float]  # known on the host when the step was logged
    names: list[str] = field(default_factory=list)  # of the device values in ``landing``
    landing: torch.Tensor | None = None  # pinned host copy of the device values, in flight
    when: torch.cuda.Event | float = 0.0  # a CUDA event (GPU timeline) or the host clock
    excluded_s: float = 0.0  # paused seconds inside the window that ends here

    def landed(self) -> bool:
        return not isinstance(self.when, torch.cuda.Event) or self.when.query()

    def read(self) -> dict[str, float]:
        """Every value, waiting for the copy only if it has not landed (the end of training)."""
        if isinstance(self.when, torch.cuda.Event) and not self.when.query():
            self.when.synchronize()
        if self.landing is None:
            return dict(self.values)
        return {**self.values, **dict(zip(self.names, self.landing.tolist(), strict=True))}


def _seconds(start: torch.cuda.Event | float, end: torch.cuda.Event | float) -> float:
    if isinstance(start, torch.cuda.Event) and isinstance(end, torch.cuda.Event):
        return start.elapsed_time(end) / 1000  # milliseconds of the GPU's timeline
    if isinstance(start, torch.cuda.Event) or isinstance(end, torch.cuda.Event):
        return float("nan")
    return end - start


Row = Mapping[str, float]


class StepMetrics:
    """See the module docstring. ``peak_tflops``: per GPU, for MFU on cards the table lacks."""

    def __init__(self, peak_tflops: float | None = None) -> None:
        self.peak_tflops = peak_tflops
        self.latest: dict[str, float] = {}  # the newest value of every metric written
        self.subscribers: list[Callable[[int, Row], None]] = []  # told of every row written
        self.tokens_per_step = 0  # of the first step (every step's, without a batch schedule)
        self.batch_schedule: Any = None  # the data module's BatchSizeSchedule, if any
        self._tokens_per_sequence = 0
        self.training_s = 0.0  # training time so far (see the module docstring)
        self.trainer: Any = None
        self._device = torch.device("cpu")
        self._flops_per_token = 0
        self._peak: float | None = None
        self._scalars: Callable[[], dict[str, torch.Tensor]] = dict
        self._step_at_batch_start: int | None = None
        self._first_step = 1
        self._pending: _Mark | None = None  # logged, not yet written (GPU)
        self._window_start: torch.cuda.Event | float | None = None
        self._excluded_s = 0.0  # paused seconds since the last mark
        self._pause_depth = 0
        self._paused_at: float | None = None
        self._clock_ran = False  # the clock ran when the current pause began
        self._clock_from: float | None = None  # host time the clock last (re)started
        self._written_step: int | None = None

    # --- driven by the module ------------------------------------------------------------------

    def start(
        self, trainer: Any, flops_per_token: int, scalars: Callable[[], dict[str, torch.Tensor]]
    ) -> None:
        """At the start of fit: ``scalars()`` gives the module's device values of the latest step
        (loss of the window, gradient norm, skipped steps)."""
        self.trainer = trainer
        self._device = trainer.strategy.root_device
        self._flops_per_token = flops_per_token
        self._scalars = scalars
        schedule = getattr(getattr(trainer, "datamodule", None), "batch_schedule", None)
        self.batch_schedule = schedule() if callable(schedule) else None
        self._first_step = trainer.global_step + 1
        self._pending = self._window_start = None
        self._excluded_s = 0.0
        self._clock_from = None
        self._peak = self.peak_tflops * 1e12 if self.peak_tflops else None
        if self._peak is None and self._device.type == "cuda":
            self._peak = peak_flops(torch.cuda.get_device_name(self._device), trainer.precision)
            if self._peak is None:
                from lightning.pytorch.utilities import rank_zero_warn

                rank_zero_warn(
                    f"MFU unknown: no peak FLOP/s for {torch.cuda.get_device_name(self._device)!r};"
                    " set module.peak_tflops"
                )

    def batch_start(self, trainer: Any) -> None:
        self._step_at_batch_start = trainer.global_step

    def step_ended(self, trainer: Any) -> bool:
        """In ``on_train_batch_end``: whether this batch ended an optimizer step."""
        start = self._step_at_batch_start
        return start is not None and trainer.global_step != start

    def is_logging_step(self, trainer: Any, step: int) -> bool:
        every = trainer.log_every_n_steps
        if not every:
            return False
        return step % every == 0 or step in (self._first_step, trainer.max_steps)

    def batch_end(self, trainer: Any, batch: Any, lrs: Callable[[], dict[str, float]]) -> None:
        """After every training batch; ``lrs()``: the learning rates, read at logging steps only."""
        if not self.tokens_per_step:
            inputs = batch[0]
            self._tokens_per_sequence = inputs.size(-1) * trainer.world_size
            self.tokens_per_step = (
                inputs.numel() * trainer.world_size * trainer.accumulate_grad_batches
            )
        if not self.step_ended(trainer):
            return
        step = trainer.global_step
        if step == self._first_step:  # compiled and warmed up: the clock starts
            self._clock_from = synchronized_clock(self._device)
        if self.is_logging_step(trainer, step):
            self._log_step(trainer, step, lrs())

    def end(self, trainer: Any) -> None:
        """When training ends: the row still on its way, and the last step's if it was not logged."""
        self._flush()
        step = trainer.global_step
        if trainer.log_every_n_steps and step >= self._first_step and self._written_step != step:
            self._log_step(trainer, step, {})
            self._flush()
        self.stop_clock()

    # --- pauses and training time --------------------------------------------------------------

    def pause(self) -> None:
        """Work that is not training starts (validation, saves, samples): it is left out of
        tokens/s and of the training time. Pauses may nest; the outermost one counts."""
        self._pause_depth += 1
        if self._pause_depth == 1:
            self._paused_at = synchronized_clock(self._device)
            self._clock_ran = self._clock_from is not None
            self._stop_clock_at(self._paused_at)

    def unpause(self) -> float:
        """The pause ends; returns its seconds (0 for an inner one)."""
        self._pause_depth = max(0, self._pause_depth - 1)
        if self._pause_depth or self._paused_at is None:
            return 0.0
        now = synchronized_clock(self._device)
        seconds = now - self._paused_at
        self._excluded_s += seconds
        self._paused_at = None
        if self._clock_ran:
            self._clock_from = now
        return seconds

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """:meth:`pause` for the duration of a block."""
        self.pause()
        try:
            yield
        finally:
            self.unpause()

    def stop_clock(self) -> float:
        """The training time up to now; the clock stays stopped."""
        if self._clock_from is not None:
            self._stop_clock_at(synchronized_clock(self._device))
        return self.training_s

    def _stop_clock_at(self, now: float) -> None:
        if self._clock_from is not None:
            self.training_s += now - self._clock_from
            self._clock_from = None

    def tokens_at(self, step: int) -> float:
        """Tokens trained by the end of optimizer step ``step`` (all ranks)."""
        if self.batch_schedule is not None:
            sequences = self.batch_schedule.sequences_through(step)
            return float(sequences * self._tokens_per_sequence)
        return float(step * self.tokens_per_step)

    def tokens_timed(self, step: int) -> float:
        """Tokens trained between the start of the clock (the end of this start's first step)
        and the end of step ``step``: what the training time measured."""
        return max(0.0, self.tokens_at(step) - self.tokens_at(self._first_step))

    # --- rows ----------------------------------------------------------------------------------

    def write(self, values: Row, step: int) -> None:
        """Send one row to every logger (from rank 0) and to the subscribers (on every rank)."""
        row = {k: float(v) for k, v in values.items()}
        if self.tokens_per_step and "train/tokens" not in row:  # every row of a run: an x-axis
            row["train/tokens"] = self.tokens_at(step)
        self.latest.update(row)
        trainer = self.trainer
        if trainer is not None and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(row, step=step)
        for subscriber in self.subscribers:
            subscriber(step, row)

    def _log_step(self, trainer: Any, step: int, host: dict[str, float]) -> None:
        scalars = {k: v.detach() for k, v in self._scalars().items()}
        mark = _Mark(step, {**host, "train/tokens": self.tokens_at(step)})
        if self._device.type == "cuda":
            mark.values["perf/peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        mark.excluded_s, self._excluded_s = self._excluded_s, 0.0
        on_gpu = any(t.is_cuda for t in scalars.values())
        if on_gpu:
            stacked = torch.stack([t.float().reshape(()) for t in scalars.values()])
            mark.names = list(scalars)
            mark.landing = torch.empty(stacked.shape, dtype=torch.float32, pin_memory=True)
            mark.landing.copy_(stacked, non_blocking=True)
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            mark.when = event
            previous, self._pending = self._pending, mark
            if previous is not None:
                self._write_mark(previous)
        else:
            mark.values.update({k: float(v) for k, v in scalars.items()})
            mark.when = time.perf_counter()
            self._write_mark(mark)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self._write_mark(pending)

    def _write_mark(self, mark: _Mark) -> None:
        values = mark.read()
        start, self._window_start = self._window_start, mark.when
        if start is not None and self._written_step is not None:
            steps = mark.step - self._written_step
            seconds = _seconds(start, mark.when) - mark.excluded_s
            if steps > 0 and seconds > 0:
                tokens = self.tokens_at(mark.step) - self.tokens_at(self._written_step)
                tokens_per_s = tokens / seconds
                values["perf/tokens_per_s"] = tokens_per_s
                if self._peak:
                    world = self.trainer.world_size if self.trainer is not None else 1
                    values["perf/mfu"] = tokens_per_s * self._flops_per_token / world / self._peak
        self._written_step = mark.step
        self.write(values, mark.step)
