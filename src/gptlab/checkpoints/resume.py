"""Resuming a run: which checkpoint (``ckpt_path=last`` falls back to ``previous.ckpt``), read once,
and whether it fits the run (same architecture, same optimizer)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptlab.checkpoints.names import LAST, PREVIOUS, UNREADABLE, checkpoint_dir, last_checkpoint
from gptlab.checkpoints.reader import (
    CheckpointError,
    check_compatible,
    read_checkpoint,
    saved_config,
    saved_optimizer,
    saved_step,
)
from gptlab.model import GPTConfig

log = logging.getLogger(__name__)

RESUME_HINT = "give a .ckpt file, or ckpt_path=last with run_name=<run> to resume a run"


@dataclass
class Resume:
    """The checkpoint a run continues from, read once (memory-mapped); Lightning gets these very
    contents (:class:`~gptlab.checkpoints.io.AtomicCheckpointIO`), not a second read."""

    path: Path
    checkpoint: dict[str, Any]
    fallback: bool = False  # last.ckpt did not load: this is previous.ckpt

    @property
    def step(self) -> int:
        return saved_step(self.checkpoint)

    def set_aside_unreadable(self) -> None:
        """Resuming from ``previous.ckpt``: rename the unreadable ``last.ckpt`` beside it to
        ``last.ckpt.unreadable``, so the next save does not rotate it over the good one."""
        last = self.path.with_name(LAST)
        if self.fallback and last.is_file():
            last.replace(last.with_name(LAST + UNREADABLE))


def find_resume(ckpt_path: str | None, run_dir: Path) -> Resume | None:
    """``last`` -> the newest checkpoint of this run folder that loads (None: start fresh); a path
    -> that file; ``null`` -> a fresh start, refused in a folder that already holds a run."""
    if ckpt_path == "last":
        return newest_loadable(checkpoint_dir(run_dir))
    refuse_fresh_start_over(run_dir, ckpt_path)
    if ckpt_path is None:
        return None
    return Resume(Path(ckpt_path), read_checkpoint(ckpt_path, hint=RESUME_HINT))


def newest_loadable(folder: Path) -> Resume | None:
    """``last.ckpt``, or ``previous.ckpt`` (with a warning) when last.ckpt does not load; None when
    the folder holds neither. When none of them loads, say how to start over."""
    found = [folder / name for name in (LAST, PREVIOUS) if (folder / name).is_file()]
    unreadable: list[tuple[Path, str]] = []
    for path in found:
        try:
            checkpoint = read_checkpoint(path)
        except CheckpointError as err:
            unreadable.append((path, type(err.__cause__).__name__))
            continue
        if unreadable:
            bad, why = unreadable[0]
            log.warning("%s does not load (%s); resuming from %s instead", bad, why, path.name)
        return Resume(path, checkpoint, fallback=bool(unreadable))
    if not unreadable:
        return None
    names = ", ".join(f"{p.name} ({why})" for p, why in unreadable)
    raise CheckpointError(
        f"no checkpoint of {folder.parent} loads: {names}; start over under a new name "
        f"(run_name=<new name>), or move {folder.parent} away first"
    )


def refuse_fresh_start_over(run_dir: Path, ckpt_path: str | None) -> None:
    """A fresh start (``ckpt_path=null``) in a folder that already holds a last.ckpt would
    overwrite that run's checkpoints: stop instead."""
    last = last_checkpoint(run_dir)
    if ckpt_path is None and last.is_file():
        raise CheckpointError(
            f"{run_dir} already holds a run ({last}); ckpt_path=null would start over and overwrite "
            "its checkpoints: resume it with ckpt_path=last, or pick a new run_name"
        )


def check_resumable(resume: Resume, config: GPTConfig, optimizer: str | None = None) -> None:
    """Resuming: the checkpoint is of exactly this architecture and was trained with the same
    optimizer (its state is restored)."""
    where = f"ckpt_path={resume.path}"
    check_compatible(saved_config(resume.checkpoint), config, where)
    saved = saved_optimizer(resume.checkpoint)
    if optimizer is not None and saved != optimizer:
        raise CheckpointError(
            f"{where} was trained with optim={saved}, but this run has optim={optimizer}; set "
            f"optim={saved} to resume it, or start from its weights with init_from={resume.path} "
            "(a fresh optimizer)"
        )
