"""Atomic file writes: a reader, or the next run after a crash, sees the old file or the new one,
never half of one.

The bytes go to a temporary file beside the target (same filesystem, so the rename is atomic),
are flushed to disk, the file is renamed over the target, and the folder is flushed so the rename
itself survives a power loss. Temporary files left by a killed writer are removed by the next write.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".tmp-"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(temp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(temp, path)  # atomic on POSIX filesystems
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    for stale in path.parent.glob(f".{path.name}{TEMP_MARK}*"):  # left by killed writers
        if not writer_alive(stale):  # another live process may be writing the same file
            stale.unlink(missing_ok=True)
    return path


def writer_alive(temp: Path) -> bool:
    """Whether the process that named this temporary file (its pid is the suffix) still runs."""
    try:
        pid = int(temp.name.rsplit(TEMP_MARK, 1)[1])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | Path, chunks: Iterable[bytes | memoryview]) -> Path:
    def write(f: IO[bytes]) -> None:
        for chunk in chunks:
            f.write(chunk)

    return atomic_write(path, write)


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, [text.encode()])


def write_json(path: str | Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=2))


def torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))
