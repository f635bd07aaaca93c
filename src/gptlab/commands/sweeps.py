"""Sweeps: each job's result file, the worst value for failed trials, and the results table.

    python -m gptlab.commands.sweeps logs/train/multiruns/<sweep>     # (re)build results.csv and results.md

Every job writes ``result.json`` into its folder (metric, status, wall time). After a multirun the
Hydra callback :class:`~gptlab.commands.hydra_callbacks.ResultsTable` collects them, with each job's overrides and logged metrics,
into ``results.csv`` and ``results.md`` in the sweep folder, sorted by the optimized metric.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from gptlab import atomic
from gptlab.runtime.result import RESULT_FILE, score

COLUMNS = [
    "job",
    "overrides",
    "status",
    "final_val_loss",
    "best_val_loss",
    "tokens_seen",
    "wall_time_s",
    "run_dir",
]


class ContinuedTPESampler:
    """Optuna's TPE sampler, seeded with ``seed`` plus the number of trials its study already held
    when this sweep started, so a continued study (the same command run again) draws new points
    instead of repeating its first trials' ones. The count is the number of the first trial this
    process asks about (trial numbers count the study's trials), so nothing is passed around."""

    def __init__(self, seed: int | None = None, **options: Any) -> None:
        self.seed, self.options = seed, options
        self.inner: Any = None

    def _sampler(self, trial: Any) -> Any:
        if self.inner is None:
            import optuna

            seed = None if self.seed is None else self.seed + trial.number
            self.inner = optuna.samplers.TPESampler(seed=seed, **self.options)
        return self.inner

    def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
        return self._sampler(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
        return self._sampler(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> Any:
        return self._sampler(trial).sample_independent(study, trial, name, distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        if self.inner is not None:
            self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self.inner is not None:
            self.inner.reseed_rng()


def continued_tpe_sampler(seed: int | None = None, **options: Any) -> Any:
    """The sampler of ``hparams_search=optuna`` (:class:`ContinuedTPESampler`)."""
    import optuna

    class Sampler(ContinuedTPESampler, optuna.samplers.BaseSampler):
        pass

    return Sampler(seed, **options)


def _metric_columns(run_dir: Path) -> dict[str, float | None]:
    path = run_dir / "csv" / "metrics.csv"
    val: list[float] = []
    tokens: list[float] = []
    if path.is_file():
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("val/loss"):
                    val.append(float(row["val/loss"]))
                if row.get("train/tokens"):
                    tokens.append(float(row["train/tokens"]))
    return {
        "final_val_loss": val[-1] if val else None,
        "best_val_loss": min(val) if val else None,
        "tokens_seen": int(tokens[-1]) if tokens else None,
    }


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job folder (those holding .hydra/ or result.json), best first."""
    rows = []
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        overrides_file = job / ".hydra" / "overrides.yaml"
        result_file = job / RESULT_FILE
        if not overrides_file.is_file() and not result_file.is_file():
            continue
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        result = (
            json.loads(result_file.read_text())
            if result_file.is_file()
            else {"status": "unfinished"}
        )
        rows.append(
            {
                "job": job.name,
                "overrides": " ".join(overrides or []),
                "status": result.get("status"),
                **_metric_columns(job),
                **(
                    {"tokens_seen": int(result["tokens_seen"])} if result.get("tokens_seen") else {}
                ),
                "wall_time_s": result.get("wall_time_s"),
                "run_dir": str(job.resolve()),
                "metric": result.get("metric"),
                "value": result.get("value"),
            }
        )
    rows.sort(key=lambda r: (score(r["value"]), r["job"]))
    return rows


def write_tables(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """results.csv and results.md in ``sweep_dir``; returns the rows.

    The Markdown table shows only the overrides that differ between jobs; the others are listed
    once above it. The CSV keeps every job's full override list.
    """
    sweep_dir = Path(sweep_dir).resolve()
    rows = collect(sweep_dir)
    metric = next((r["metric"] for r in rows if r.get("metric")), "value")
    columns = [*COLUMNS[:3], metric, *COLUMNS[3:]]
    table = [{**r, metric: r["value"]} for r in rows]
    with open(sweep_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(table)
    split = [set(r["overrides"].split()) for r in rows]
    common = set.intersection(*split) if split else set()
    lines = [
        f"Sweep: {sweep_dir}",
        "",
        f"Common overrides: `{' '.join(sorted(common)) or '(none)'}`",
        "",
    ]
    lines += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in table:
        varying = " ".join(o for o in row["overrides"].split() if o not in common)
        lines.append(
            "| "
            + " | ".join(_cell(varying if c == "overrides" else row.get(c)) for c in columns)
            + " |"
        )
    lines += seed_spread(rows, metric)
    atomic.write_text(sweep_dir / "results.md", "\n".join(lines) + "\n")
    return rows


def seed_spread(rows: list[dict[str, Any]], metric: str) -> list[str]:
    """A second table when several seeds of one setting ran (``-m seed=1,2,3 ...``): per setting,
    the number of seeds and the metric's mean, standard deviation, minimum and maximum."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        overrides = row["overrides"].split()
        if not any(o.startswith("seed=") for o in overrides):
            continue
        setting = " ".join(o for o in overrides if not o.startswith("seed=")) or "(defaults)"
        value = row.get("value")
        if value is not None and math.isfinite(value) and score(value) == value:
            groups.setdefault(setting, []).append(value)
    groups = {k: v for k, v in groups.items() if len(v) > 1}
    if not groups:
        return []
    lines = ["", f"Over seeds ({metric}):", "", "| setting | seeds | mean | std | min | max |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for setting, values in sorted(groups.items(), key=lambda kv: statistics.mean(kv[1])):
        cells = [statistics.mean(values), statistics.stdev(values), min(values), max(values)]
        lines.append(f"| {setting} | {len(values)} | " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, float):  # six significant digits: close losses still rank apart
        return f"{value:.6g}"
    return "" if value is None else str(value).replace("|", "\\|")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptlab sweeps",
        description="(Re)build a sweep folder's results.csv and results.md from its jobs' "
        "result.json and metrics, best first, and print the table.",
    )
    parser.add_argument("sweep", type=Path, help="a sweep folder: logs/train/multiruns/<time>")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not args.sweep.is_dir():
        print(f"error: {args.sweep} is not a folder; give a sweep folder", file=sys.stderr)
        return 2
    rows = write_tables(args.sweep)
    print((args.sweep / "results.md").read_text(), end="")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
