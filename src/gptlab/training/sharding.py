"""Whether a run's weights are split across processes, so that no rank holds the whole model."""

from __future__ import annotations

from typing import Any


def weights_are_sharded(trainer: Any) -> bool:
    """FSDP: no rank holds whole weights outside the wrapped forward, so one rank alone cannot
    run the model (text samples, HellaSwag); generate from a checkpoint instead."""
    return "FSDP" in type(trainer.strategy).__name__
