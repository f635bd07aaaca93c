"""Hydra callbacks of the train command: checks before a run folder is written, sweep tables."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from gptlab.checkpoints.reader import refuse_fresh_start_over
from gptlab.commands import sweeps
from gptlab.commands.cli import EXIT_USER_ERROR, error_message, print_error
from gptlab.commands.sweeps import count_trials, write_tables
from gptlab.errors import GptlabError
from gptlab.runtime import run_folder


class ExistingRunGuard(Callback):
    """Checks a training run before Hydra writes anything into its folder, and gives each start of
    a run its own record.

    Before Hydra writes its record (and opens ``train.log``): the run name, that the log folder can
    be written, no fresh start over an existing run, and every check of
    :func:`~gptlab.commands.train.preflight` (settings, architecture, optimizer, the checkpoint to
    resume, the data). A bad command aimed at an existing run thus stops with one line and leaves
    the folder byte for byte as it was, and a new folder is not even created. Hydra turns
    exceptions of callbacks into warnings, so this one prints the error line and exits.

    Then the record: the first start writes ``.hydra/``, later ones ``.hydra/attempt-<N>/``
    (:mod:`gptlab.runtime.run_folder`).
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = OmegaConf.select(config, "hydra.run.dir")
        if not run_dir or not config.get("train") or OmegaConf.is_missing(config, "ckpt_path"):
            return  # only training writes checkpoints (eval.py and generate.py read them)
        run_dir = Path(run_dir).absolute()
        try:
            if "run_name" in config and not str(config.run_name or "").strip():
                raise GptlabError(
                    "run_name is empty: give the run a folder name (run_name=exp1), or leave it "
                    "out for a time-stamped folder"
                )
            check_writable(run_dir)
            refuse_fresh_start_over(run_dir, config.ckpt_path)
            preflight_as_job(config, run_dir)
        except Exception as err:
            # a user error is one line here; anything else (and any error under
            # HYDRA_FULL_ERROR=1) the job meets again and shows with its traceback
            message = error_message(err)
            if message is not None and os.environ.get("HYDRA_FULL_ERROR") != "1":
                print_error(message)
                sys.exit(EXIT_USER_ERROR)
        record = config.hydra.output_subdir if rank_zero_only.rank == 0 else None
        attempt = run_folder.begin(run_dir, record)
        if attempt.record != record:
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.output_subdir = attempt.record


def check_writable(run_dir: Path) -> None:
    """The run folder, or the nearest folder above it that exists, can be written."""
    existing = run_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise GptlabError(
            f"cannot make the run folder {run_dir}: {existing} is a file; choose another "
            "paths.log_dir=... or run_name=..."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise GptlabError(
            f"cannot write the run folder {run_dir}: {existing} is not writable; choose a "
            "writable paths.log_dir=... or fix the folder's permissions"
        )


def preflight_as_job(config: DictConfig, run_dir: Path) -> None:
    """:func:`~gptlab.commands.train.preflight` on the job's config, resolved as Hydra will
    resolve it when the job runs (``${hydra:runtime.output_dir}`` is the run folder)."""
    from hydra.core.hydra_config import HydraConfig

    from gptlab.commands.train import preflight

    job = copy.deepcopy(config)
    with read_write(job.hydra.runtime), open_dict(job.hydra.runtime):
        job.hydra.runtime.output_dir = str(run_dir)
    before = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(job)
    try:
        task = copy.deepcopy(job)
        with read_write(task), open_dict(task):
            del task["hydra"]
        preflight(task)
    finally:
        HydraConfig.instance().cfg = before


class ResultsTable(Callback):
    """Makes the sweep folder before the sweeper starts (Optuna's sqlite storage lives there),
    counts the trials a continued study already holds (its sampler's seed moves on by that many)
    and writes the results table when the multirun ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)
        sweeper = config.hydra.sweeper
        sweeps.trials_done = count_trials(sweeper.get("storage"), sweeper.get("study_name"))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            rows = write_tables(sweep_dir)
            print(f"results of {len(rows)} jobs: {sweep_dir / 'results.md'}", flush=True)
