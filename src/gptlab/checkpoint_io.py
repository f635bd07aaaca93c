"""Checkpoint files written atomically: a process killed mid-write leaves the previous file whole.

Lightning's own "atomic" save stages the bytes in the system temp folder and moves them into place;
when that folder is on another filesystem (node-local /tmp, checkpoints on a cluster's shared
disk) the move is a copy into the final name, and a kill during it leaves a truncated checkpoint.
Here the temporary file sits beside the target, is flushed to disk, then renamed over it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

TEMP_MARK = ".tmp-"


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same folder and one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(temp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(temp, path)  # atomic on POSIX filesystems
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # the rename itself survives a crash of the machine
    for stale in path.parent.glob(f".{path.name}{TEMP_MARK}*"):  # left by killed writers
        stale.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with :func:`atomic_save` for local paths (URLs: Lightning's own)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        atomic_save(checkpoint, path)
