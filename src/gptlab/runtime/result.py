"""``result.json``: what a run ended with (status, the optimized metric, tokens, wall time), read by
sweep tables and benchmarks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gptlab import atomic

RESULT_FILE = "result.json"
WORST = 1.0e9  # what a crashed or NaN trial scores: finite, so Optuna keeps the sweep going


def score(value: float | None, direction: str = "minimize") -> float:
    """A value a sweeper can rank: NaN, inf or missing become the worst finite value."""
    if value is None or not math.isfinite(value):
        return WORST if direction == "minimize" else -WORST
    return value


def write_result(folder: Path, result: dict[str, Any]) -> None:
    atomic.write_json(Path(folder) / RESULT_FILE, result)
