"""The run's metrics as one CSV file that survives resumes: ``<run>/csv/metrics.csv``.

Lightning's CSVLogger deletes ``metrics.csv`` when a run folder is reused, so a resumed run kept
only the steps after the resume, and the plots and sweep tables read that file. This logger keeps
the history: a resumed run drops only the rows from its resume step on (logged after the
checkpoint it resumes from, so logged again) and appends. Each flush rewrites the file atomically.
"""

from __future__ import annotations

import csv
import io
import time
from argparse import Namespace
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from gptlab import atomic

METRICS_FILE = "metrics.csv"


class CSVLogger(Logger):
    def __init__(
        self,
        save_dir: str,
        name: str = "csv",
        flush_every_n_rows: int = 50,
        flush_every_s: float = 30.0,
    ) -> None:
        super().__init__()
        self.folder = Path(save_dir) / name
        self.flush_every_n_rows = flush_every_n_rows
        self.flush_every_s = flush_every_s
        self.rows: list[dict[str, Any]] | None = None  # read on the first metrics of this attempt
        self.unsaved = 0
        self.saved_at = time.monotonic()

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def version(self) -> str:
        return ""

    @property
    def log_dir(self) -> str:
        return str(self.folder)

    @property
    def metrics_file(self) -> Path:
        return self.folder / METRICS_FILE

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params)
        text = yaml.safe_dump(_plain(values), sort_keys=False)
        atomic.write_text(self.folder / "hparams.yaml", text)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if self.rows is None:
            self.rows = self.history_before(step or 0)
        row = {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
        step = step if step is not None else len(self.rows)
        if self.rows and self.rows[-1]["step"] == step:  # one row per step, as W&B keeps it
            self.rows[-1].update(row)
        else:
            self.rows.append({**row, "step": step})
        self.unsaved += 1
        due = time.monotonic() - self.saved_at > self.flush_every_s
        if self.unsaved >= self.flush_every_n_rows or due:
            self.save()

    def history_before(self, step: int) -> list[dict[str, Any]]:
        """The rows an earlier attempt of this run logged before ``step``."""
        if not self.metrics_file.is_file():
            return []
        with open(self.metrics_file, newline="") as f:
            rows = list(csv.DictReader(f))
        return [
            {k: v for k, v in row.items() if v not in ("", None)}
            for row in rows
            if row.get("step") and int(float(row["step"])) < step
        ]

    @rank_zero_only
    def save(self) -> None:
        if not self.rows or not self.unsaved:
            return
        keys = sorted({key for row in self.rows for key in row})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.metrics_file, out.getvalue())
        self.unsaved = 0
        self.saved_at = time.monotonic()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()


def _plain(value: Any) -> Any:
    """Values yaml can write: containers of numbers and strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
