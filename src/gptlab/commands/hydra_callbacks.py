"""Hydra callbacks of the train command: checks before a run folder is written, sweep tables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gptlab.commands import sweeps
from gptlab.commands.cli import EXIT_USER_ERROR, print_error
from gptlab.commands.sweeps import count_trials, write_tables
from gptlab.errors import GptlabError
from gptlab.training.checkpoint import refuse_fresh_start_over


class ExistingRunGuard(Callback):
    """A fresh start (``ckpt_path=null``) in a folder that already holds a run is refused before
    Hydra writes anything there. Hydra turns exceptions of callbacks into warnings, so this one
    prints the error line and exits."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = OmegaConf.select(config, "hydra.run.dir")
        if not run_dir or not config.get("train") or OmegaConf.is_missing(config, "ckpt_path"):
            return  # only training writes checkpoints (eval.py and generate.py read them)
        try:
            if "run_name" in config and not str(config.run_name or "").strip():
                raise GptlabError(
                    "run_name is empty: give the run a folder name (run_name=exp1), or leave it "
                    "out for a time-stamped folder"
                )
            refuse_fresh_start_over(Path(run_dir).absolute(), config.ckpt_path)
        except GptlabError as err:
            print_error(err)
            sys.exit(EXIT_USER_ERROR)


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
