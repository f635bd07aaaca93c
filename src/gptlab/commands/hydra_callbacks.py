"""Hydra callbacks of the train command: the sweep folder and its results table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from gptlab.commands.sweeps import write_tables


class ResultsTable(Callback):
    """Makes the sweep folder before the sweeper starts (Optuna's sqlite storage lives there) and
    writes the results table when the multirun ends."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            rows = write_tables(sweep_dir)
            print(f"results of {len(rows)} jobs: {sweep_dir / 'results.md'}", flush=True)
