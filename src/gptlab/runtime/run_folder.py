"""A run folder's starts ("attempts"): where each one's record goes, and what a failed one removes.

Hydra writes its record of a job (the composed ``config.yaml``, ``hydra.yaml``, ``overrides.yaml``)
into ``<run>/.hydra/`` when the job starts. A run is started many times: resumed by hand, requeued
by SLURM. The first start keeps ``.hydra/``; each later one writes ``.hydra/attempt-<N>/``, so the
first record is never rewritten and every resume is on file.

A start that fails before training wrote anything (a data error found while setting up, a stop
signal during start-up) removes what it created: the whole folder when it made the folder, its own
``attempt-<N>`` record when it resumed an existing run. Stdlib only: the entry points import this
before torch.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

RECORD = ".hydra"


@dataclass
class Attempt:
    run_dir: Path
    created: bool  # the folder did not exist before this start
    record: str | None  # Hydra's output_subdir for this start, relative to run_dir
    last_checkpoint_mtime: float | None  # of checkpoints/last.ckpt when this start began

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.ckpt"

    def wrote_checkpoint(self) -> bool:
        """Whether this start saved a checkpoint of its own, or (in a folder it made) a result or
        metrics: then it trained, and what it wrote is kept."""
        last = self.last_checkpoint
        if last.is_file() and last.stat().st_mtime != self.last_checkpoint_mtime:
            return True
        kept = ("result.json", "csv/metrics.csv")
        return self.created and any((self.run_dir / name).is_file() for name in kept)


current: Attempt | None = None


def record_subdir(run_dir: Path, record: str = RECORD) -> str:
    """``.hydra`` for the first start of a run, ``.hydra/attempt-<N>`` (N = 2, 3, ...) after it."""
    if not (run_dir / record / "config.yaml").is_file():
        return record
    n = 2
    while (run_dir / record / f"attempt-{n}").exists():
        n += 1
    return f"{record}/attempt-{n}"


def begin(run_dir: Path, record: str | None) -> Attempt:
    """Note the state of ``run_dir`` before this start writes anything; returns the record folder
    to use (None: this process writes no record, e.g. DDP ranks > 0)."""
    global current
    last = run_dir / "checkpoints" / "last.ckpt"
    current = Attempt(
        run_dir=run_dir,
        created=not run_dir.exists(),
        record=record_subdir(run_dir, record) if record else None,
        last_checkpoint_mtime=last.stat().st_mtime if last.is_file() else None,
    )
    return current


def launch_rank() -> int:
    """This process's rank as its launcher set it (torchrun, SLURM, Lightning's DDP ranks)."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name, "0")
        if value.isdigit() and int(value):
            return int(value)
    return 0


def discard_failed_start() -> bool:
    """Remove what this start created, unless it trained (saved a checkpoint or metrics); True
    when something was removed. Only the first process of a job removes anything: the others may
    have seen the folder missing only because the first had not made it yet."""
    attempt = current
    if attempt is None or launch_rank() or not attempt.run_dir.exists():
        return False
    if attempt.wrote_checkpoint():
        return False
    if attempt.created:
        shutil.rmtree(attempt.run_dir, ignore_errors=True)
        return True
    if attempt.record and attempt.record != RECORD:
        shutil.rmtree(attempt.run_dir / attempt.record, ignore_errors=True)
        return True
    return False


def attempt_folder(run_dir: Path) -> Path:
    """Where this start saves its own files beside Hydra's record (``config_tree.log``): the run
    folder on the first start, the ``attempt-<N>`` record on later ones."""
    attempt = current
    if attempt is None or attempt.run_dir != run_dir or attempt.record in (None, RECORD):
        return run_dir
    return run_dir / attempt.record
