"""Atomic file writes: a reader, or the next run after a crash, sees the old file or the new one,
never half of one.

The bytes go to a temporary file beside the target (same filesystem, so the rename is atomic),
are flushed to disk, the file is renamed over the target, and the folder is flushed so the rename
itself survives a power loss. Temporary files left by a killed writer are removed by the next write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from gptlab.errors import DiskFullError

TEMP_MARK = ".tmp-"


def atomic_write(
    path: str | Path,
    write: Callable[[IO[bytes]], None],
    keep_previous: str | Path | None = None,
    size_hint: int | None = None,
) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place.

    ``keep_previous``: the file being replaced stays under that name (write-then-rotate), so the
    one before the newest survives whatever happens to the newest. ``size_hint``: about how many
    bytes the file takes, for the message of a full disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    try:
        with open(temp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        if keep_previous is not None and path.is_file():
            _keep_as(path, Path(keep_previous))
        os.replace(temp, path)  # atomic on POSIX filesystems
    except BaseException as err:
        full = disk_full(err, path.parent)  # measured before the partial file is removed
        temp.unlink(missing_ok=True)
        if full:
            raise DiskFullError(disk_full_message(path, size_hint)) from None
        raise
    fsync_folder(path.parent)
    for stale in path.parent.glob(f".{path.name}{TEMP_MARK}*"):  # left by killed writers
        if not writer_alive(stale):  # another live process may be writing the same file
            stale.unlink(missing_ok=True)
    return path


def disk_full(err: BaseException, folder: Path) -> bool:
    """ENOSPC (or a full quota) anywhere in the chain of ``err`` (torch.save raises its own
    RuntimeError, "unexpected pos", over the OSError of the file it writes), or torch.save's
    "file write failed", which does not say why, while the disk has next to nothing left."""
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        current = current.__cause__ or current.__context__
    if not isinstance(err, RuntimeError) or "write failed" not in str(err):
        return False
    try:
        return shutil.disk_usage(folder).free < 64 * 2**20
    except OSError:
        return False


def size_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def disk_full_message(path: Path, size_hint: int | None) -> str:
    try:
        free = size_text(shutil.disk_usage(path.parent).free)
    except OSError:
        free = "unknown"
    needed = f"it needs about {size_text(size_hint)}, " if size_hint else ""
    return (
        f"cannot write {path}: no space left on its disk ({needed}{free} free); the previous "
        "file is intact: free space, or move the run (paths.log_dir) to a larger disk, and resume "
        "(ckpt_path=last)"
    )


def _keep_as(path: Path, previous: Path) -> None:
    """``previous`` becomes the current ``path`` file: a hard link (no copy, and ``path`` never goes
    missing), or a rename on filesystems without hard links."""
    link = previous.with_name(f".{previous.name}{TEMP_MARK}{os.getpid()}")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
        os.replace(link, previous)
    except OSError:
        link.unlink(missing_ok=True)
        os.replace(path, previous)


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


def torch_save(obj: Any, path: str | Path, keep_previous: str | Path | None = None) -> Path:
    """``torch.save`` through :func:`atomic_write`."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f), keep_previous, tensor_bytes(obj))


def tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors in ``obj`` (each storage once): about the size of its file."""
    import torch

    seen: dict[int, int] = {}

    def visit(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(item, dict):
            for value in item.values():
                visit(value)
        elif isinstance(item, (list, tuple)):
            for value in item:
                visit(value)

    visit(obj)
    return sum(seen.values())
