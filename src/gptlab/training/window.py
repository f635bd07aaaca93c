"""The sliding window's schedule (``module.attn_window_start``): short windows first, growing to
the model's ``attn_window``, as the GPT-2 speedruns grow theirs. Early steps are cheaper with
FlexAttention's block-sparse kernel, and short-range statistics are learnt first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gptlab.errors import ConfigError

MULTIPLE = 64  # windows grow in whole blocks of keys (FlexAttention's blocks are 128, or 64)


def window_at(step: int, total_steps: int, start: int, final: int, growth: float) -> int:
    """The window of optimizer ``step`` (from 0) of ``total_steps``: from ``start``, growing
    linearly to reach ``final`` at the last of the first ``growth`` of the steps, rounded down to a
    multiple of 64 (never below ``start``)."""
    span = growth * max(total_steps, 1)
    fraction = min(1.0, (step + 1) / span)
    if fraction >= 1.0:
        return final
    window = start + (final - start) * fraction
    return max(start, int(window) // MULTIPLE * MULTIPLE)


def check_settings(start: int | None, growth: float) -> None:
    """``module.attn_window_start`` and ``module.attn_window_growth`` alone."""
    if isinstance(growth, bool) or not isinstance(growth, (int, float)) or not 0 < growth <= 1:
        raise ConfigError(f"module.attn_window_growth={growth!r} must be in (0, 1]")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int) or start < 1):
        raise ConfigError(f"module.attn_window_start={start!r} must be a positive integer or null")


def check_schedule(start: int | None, growth: float, final: int | None) -> None:
    """The schedule against the window it grows to, ``model.attn_window``."""
    check_settings(start, growth)
    if start is None:
        return
    if final is None:
        raise ConfigError(
            "module.attn_window_start grows a sliding window: set model.attn_window "
            "(the window it grows to), or module.attn_window_start=null"
        )
    if start > final:
        raise ConfigError(
            f"module.attn_window_start={start} is larger than model.attn_window={final}: the "
            "window grows from the first to the second"
        )


@dataclass(frozen=True)
class WindowSchedule:
    """A run's schedule: ``start`` growing to ``final`` over ``growth`` of ``decay_steps`` (the
    learning-rate schedule's length, so a run extended by a resume keeps its windows), or of the
    trainer's steps."""

    start: int
    final: int
    growth: float = 1.0
    decay_steps: int | None = None

    @classmethod
    def of(cls, start: int | None, growth: float, model: Any, optim: Any) -> WindowSchedule | None:
        """The schedule of ``module.attn_window_*`` for a GPTConfig and an OptimConfig (checked),
        or None without one."""
        check_schedule(start, growth, model.attn_window)
        if start is None:
            return None
        return cls(start, model.attn_window, growth, optim.decay_steps)

    def at(self, step: int, trainer: Any) -> int:
        total = self.decay_steps or (
            trainer.max_steps if trainer.max_steps > 0 else trainer.estimated_stepping_batches
        )
        return window_at(step, int(total), self.start, self.final, self.growth)
