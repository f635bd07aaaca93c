"""A batch-size schedule (``data.batch_size_schedule``): small micro-batches first, larger ones
later, as the GPT-2 speedruns grow their batch (modded-nanogpt: 131k -> 262k -> 393k tokens per
step, in thirds). Early in training the loss falls fast and many small steps buy more than a few
large ones; later a larger batch's less noisy gradient pays. Each size trains an equal share of
the run's schedule (``optim.decay_steps``, else ``trainer.max_steps``, as the learning rate's);
the windows are read in the order a fixed batch size reads them, cut into the scheduled sizes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from torch.utils.data import Sampler

from gptlab.data.sampling import WindowSampler
from gptlab.errors import ConfigError


def check_sizes(sizes: Sequence[int] | None) -> None:
    """``data.batch_size_schedule``: null, or a list of positive micro-batch sizes."""
    if sizes is None:
        return
    if (
        isinstance(sizes, (str, bytes))
        or not isinstance(sizes, Sequence)
        or not sizes
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes)
    ):
        shown = list(sizes) if isinstance(sizes, Sequence) and not isinstance(sizes, str) else sizes
        raise ConfigError(
            f"data.batch_size_schedule={shown!r} must be a list of micro-batch sizes >= 1, "
            "e.g. [16, 32, 48], or null"
        )


def check_steps(sizes: Sequence[int] | None, steps: int) -> None:
    """A schedule shares the run's steps among its sizes: the run must have a number of them."""
    if sizes and steps < 1:
        raise ConfigError(
            "data.batch_size_schedule shares the run's steps among its sizes: set "
            f"trainer.max_steps (it is {steps}) or optim.decay_steps"
        )


@dataclass(frozen=True)
class BatchSizeSchedule:
    """``sizes[i]`` sequences per micro-batch in the i-th of ``len(sizes)`` equal shares of
    ``total_steps`` optimizer steps of ``accumulation`` micro-batches each."""

    sizes: tuple[int, ...]
    total_steps: int
    accumulation: int = 1

    def phase_start(self, phase: int) -> int:
        """The first optimizer step of ``phase`` (from 0)."""
        return -(-phase * self.total_steps // len(self.sizes))  # ceil: phases as even as can be

    def size_at(self, step: int) -> int:
        """Sequences per micro-batch of optimizer step ``step`` (from 0); after the run's last
        step (a run extended by a resume), the last size."""
        phase = 0
        while phase + 1 < len(self.sizes) and step >= self.phase_start(phase + 1):
            phase += 1
        return self.sizes[phase]

    def size_of_micro_batch(self, index: int) -> int:
        return self.size_at(index // self.accumulation)

    def sequences_through(self, steps: int) -> int:
        """Sequences one rank trains in the first ``steps`` optimizer steps."""
        total = 0
        for phase, size in enumerate(self.sizes):
            first = self.phase_start(phase)
            last = steps if phase + 1 == len(self.sizes) else min(steps, self.phase_start(phase + 1))
            total += max(0, last - first) * size * self.accumulation
        return total

    def mean_size(self) -> float:
        return self.sequences_through(self.total_steps) / (self.total_steps * self.accumulation)

    def position_after(self, micro_batches: int, epoch_length: int) -> tuple[int, int]:
        """(epoch, windows read in it) after ``micro_batches`` micro-batches of one rank, each
        epoch of ``epoch_length`` windows cut into the scheduled sizes, its rest dropped."""
        epoch = windows = 0
        for index in range(micro_batches):
            size = self.size_of_micro_batch(index)
            if windows + size > epoch_length:
                epoch, windows = epoch + 1, 0
            windows += size
        return epoch, windows


class ScheduledBatches(Sampler[list[int]]):
    """Micro-batches of window starts whose sizes follow a :class:`BatchSizeSchedule`: each epoch
    of ``windows`` cut in order; the rest of an epoch too short for the next micro-batch is
    dropped, as ``drop_last`` drops it for a fixed size. ``done``: micro-batches served so far
    (set when resuming), which decides the next one's size."""

    def __init__(self, windows: WindowSampler, schedule: BatchSizeSchedule, done: int = 0) -> None:
        self.windows = windows
        self.schedule = schedule
        self.done = done

    def __iter__(self) -> Iterator[list[int]]:
        starts = list(self.windows)  # one epoch (the rest of one, when resuming)
        position = 0
        while True:
            size = self.schedule.size_of_micro_batch(self.done)
            if position + size > len(starts):
                return
            yield starts[position : position + size]
            position += size
            self.done += 1

    def __len__(self) -> int:
        """Micro-batches the coming epoch serves."""
        remaining, count = len(self.windows), 0
        while True:
            size = self.schedule.size_of_micro_batch(self.done + count)
            if size > remaining:
                return count
            remaining -= size
            count += 1
