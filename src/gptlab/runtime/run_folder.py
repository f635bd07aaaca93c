"""A run folder's starts ("attempts"): its lock, its record, its log, and what a failed one removes.

A run is started many times: resumed by hand, requeued by SLURM. Each start, once its spec is
checked (:mod:`gptlab.runtime.spec`), takes the folder's lock (:mod:`gptlab.runtime.lock`), then
writes its record of the job (the composed ``config.yaml``, ``hydra.yaml``, ``overrides.yaml``):
the first start into ``<run>/.hydra/``, each later one into ``.hydra/attempt-<N>/``, so the first
record is never rewritten and every resume is on file. ``train.log`` is opened only then, so a
start that is refused writes nothing at all. (Hydra's own record and log file are turned off in
``conf/hydra/``: Hydra would write them before the job can check anything.)

A start that fails before training wrote anything removes what it created: the whole folder when
it made the folder (Hydra makes it, empty, just before the job), its own ``attempt-<N>`` record
when it resumed an existing run. Only the job's first process (rank 0) writes or removes anything.
Stdlib and OmegaConf only: the entry points use it before torch is imported.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptlab import atomic
from gptlab.errors import GptlabError
from gptlab.runtime.lock import RunLock, RunLocked

RECORD = ".hydra"
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def launch_rank() -> int:
    """This process's rank as its launcher set it (torchrun, SLURM, Lightning's DDP ranks)."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"):
        value = os.environ.get(name, "0")
        if value.isdigit() and int(value):
            return int(value)
    return 0


@dataclass
class Attempt:
    run_dir: Path
    created: bool  # this start made the folder
    records: bool  # this process writes the record (the job's first process, through Hydra)
    last_checkpoint_mtime: float | None  # of checkpoints/last.ckpt when this start began
    record: str | None = None  # where this start's record went, relative to run_dir
    lock: RunLock | None = None
    log_handler: logging.Handler | None = field(default=None, repr=False)

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.ckpt"

    @property
    def folder(self) -> Path:
        """Where this start saves its own files beside its record (``config_tree.log``): the run
        folder on the first start, the ``attempt-<N>`` record on later ones."""
        if self.record in (None, RECORD):
            return self.run_dir
        return self.run_dir / self.record

    def saved_last_checkpoint(self) -> bool:
        """Whether ``last.ckpt`` was written since this start began."""
        last = self.last_checkpoint
        return last.is_file() and last.stat().st_mtime != self.last_checkpoint_mtime

    def wrote_checkpoint(self) -> bool:
        """Whether this start saved a checkpoint of its own, or (in a folder it made) a result or
        metrics: then it trained, and what it wrote is kept."""
        if self.saved_last_checkpoint():
            return True
        kept = ("result.json", "csv/metrics.csv")
        return self.created and any((self.run_dir / name).is_file() for name in kept)

    def what_to_resume_from(self) -> str:
        """For the line a stop signal prints: the checkpoint really on disk, and how to resume."""
        if self.saved_last_checkpoint():
            return f"{self.last_checkpoint} is saved; resume with ckpt_path=last"
        saved = sorted(self.run_dir.glob("checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)
        if saved:  # callbacks.last_checkpoint=null, or a stop before its first save
            return (
                f"this start saved no last.ckpt; the newest checkpoint is {saved[-1]}: "
                f"resume with ckpt_path={saved[-1]}"
            )
        return f"no checkpoint to resume from; what the run wrote is kept in {self.run_dir}"


current: Attempt | None = None  # this process's start, for the stop-signal handler


def begin(run_dir: Path, records: bool = False) -> Attempt:
    """Note the state of ``run_dir`` before this start writes anything. A folder that is missing,
    or empty (Hydra makes the run folder just before the job), counts as made by this start."""
    global current
    run_dir = Path(run_dir).absolute()
    last = run_dir / "checkpoints" / "last.ckpt"
    created = not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir()))
    current = Attempt(
        run_dir=run_dir,
        created=created,
        records=records and launch_rank() == 0,
        last_checkpoint_mtime=last.stat().st_mtime if last.is_file() else None,
    )
    return current


def claim(attempt: Attempt) -> None:
    """Make the folder and take its lock (the job's first process only)."""
    if launch_rank():
        return
    attempt.run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(attempt.run_dir)
    try:
        lock.acquire()
    except RunLocked:
        # the folder is another live start's, even one that Hydra made empty for both of them
        # at once: a refused start removes nothing
        attempt.created = False
        raise
    attempt.lock = lock


def record_subdir(run_dir: Path) -> str:
    """``.hydra`` for the first start of a run, ``.hydra/attempt-<N>`` (N = 2, 3, ...) after it."""
    if not (run_dir / RECORD / "config.yaml").is_file():
        return RECORD
    n = 2
    while (run_dir / RECORD / f"attempt-{n}").exists():
        n += 1
    return f"{RECORD}/attempt-{n}"


def write_record(attempt: Attempt, task_config: Any, hydra_config: Any) -> None:
    """The record of this start, as Hydra writes it: ``config.yaml`` (the composed config),
    ``hydra.yaml`` and ``overrides.yaml`` (the command line's overrides)."""
    from omegaconf import OmegaConf

    if not attempt.records:
        return
    attempt.record = record_subdir(attempt.run_dir)
    folder = attempt.run_dir / attempt.record
    files = {
        "config.yaml": task_config,
        "hydra.yaml": OmegaConf.create({"hydra": hydra_config}),
        "overrides.yaml": OmegaConf.create(list(hydra_config.overrides.task)),
    }
    for name, config in files.items():
        atomic.write_text(folder / name, OmegaConf.to_yaml(config))


def open_log(attempt: Attempt, name: str) -> None:
    """Append this start's log lines (every logger's INFO and above) to ``<run>/<name>``; other
    processes of the job write ``<name stem>_rank<N>.log``."""
    rank = launch_rank()
    file = name if not rank else f"{Path(name).stem}_rank{rank}.log"
    handler = logging.FileHandler(attempt.run_dir / file)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    attempt.log_handler = handler


def end(attempt: Attempt) -> None:
    """Close the log and release the lock: the folder is free for the next start."""
    if attempt.log_handler is not None:
        logging.getLogger().removeHandler(attempt.log_handler)
        attempt.log_handler.close()
        attempt.log_handler = None
    if attempt.lock is not None:
        attempt.lock.release()
        attempt.lock = None


def discard_failed_start() -> bool:
    """Remove what this start created, unless it trained (saved a checkpoint or metrics); True
    when something was removed. Only the first process of a job removes anything: the others may
    have seen the folder missing only because the first had not made it yet."""
    attempt = current
    if attempt is None or launch_rank() or not attempt.run_dir.exists():
        return False
    if attempt.wrote_checkpoint():
        return False
    end(attempt)
    if attempt.created:
        shutil.rmtree(attempt.run_dir, ignore_errors=True)
        return True
    if attempt.record and attempt.record != RECORD:
        shutil.rmtree(attempt.run_dir / attempt.record, ignore_errors=True)
        return True
    return False


def check_writable(run_dir: Path) -> None:
    """The run folder, or the nearest folder above it that exists, can be written."""
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise GptlabError(
            f"cannot make the run folder {run_dir}: {existing} is a file; choose another "
            "hydra.run.dir=..., paths.log_dir=... or run_name=..."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GptlabError(
            f"cannot write the run folder {run_dir}: {existing} is not writable; choose a "
            "writable paths.log_dir=... or fix the folder's permissions"
        )
