"""Where a run's checkpoints live and what they are called."""

from __future__ import annotations

from pathlib import Path

FOLDER = "checkpoints"  # inside the run folder
LAST, PREVIOUS = "last.ckpt", "previous.ckpt"  # the newest checkpoint, and the one before it
UNREADABLE = ".unreadable"  # a last.ckpt that did not load is set aside under this suffix


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / FOLDER


def last_checkpoint(run_dir: str | Path) -> Path:
    return checkpoint_dir(run_dir) / LAST
