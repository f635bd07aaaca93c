"""Loss curves of runs, or of every job of a sweep, from their CSV logs, to a PNG.

gptlab plot logs/train/runs/exp1 [logs/train/runs/exp2 ...] [--out loss.png] [--x tokens]
            [--log-y] [--smooth 0.6] [--title "..."]
gptlab plot logs/train/multiruns/<sweep>          # every job, named by the overrides that differ
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path


def read_curves(run_dir: Path, x: str) -> dict[str, tuple[list[float], list[float]]]:
    """{"train/loss": (xs, ys), "val/loss": (xs, ys)} from ``run_dir/csv/metrics.csv``."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no CSV log (train with logger=csv, wandb or many)")
    curves: dict[str, tuple[list[float], list[float]]] = {
        "train/loss": ([], []),
        "val/loss": ([], []),
    }
    with open(path) as f:
        rows = list(csv.DictReader(f))
    # tokens per optimizer step, from the rows that logged tokens (a row at step s holds the
    # tokens after s steps), for rows without them (written by older versions)
    per_step = [
        float(r["train/tokens"]) / int(r["step"])
        for r in rows
        if r.get("train/tokens") and int(float(r["step"])) > 0
    ]
    tokens_per_step = statistics.median(per_step) if per_step else float("nan")
    for row in rows:
        step = int(float(row["step"]))
        if x != "tokens":
            position = float(step)
        elif row.get("train/tokens"):
            position = float(row["train/tokens"])
        else:
            position = step * tokens_per_step
        for key in curves:
            if row.get(key):
                curves[key][0].append(position)
                curves[key][1].append(float(row[key]))
    return curves


def smoothed(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with W&B's debiasing: the first points are not pulled to 0."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**i) if weight else value)
    return out


def expand(paths: list[Path]) -> list[Path]:
    """Run folders: each path itself, or a sweep folder's jobs (the subfolders with a CSV log)."""
    runs = []
    for path in paths:
        if (path / "csv" / "metrics.csv").is_file() or not path.is_dir():
            runs.append(path)
            continue
        jobs = sorted(p for p in path.iterdir() if (p / "csv" / "metrics.csv").is_file())
        runs += jobs or [path]  # none: read_curves names what is missing
    return runs


def overrides(run_dir: Path) -> list[str]:
    record = run_dir / ".hydra" / "overrides.yaml"
    if not record.is_file():
        return []
    import yaml

    return [str(o) for o in yaml.safe_load(record.read_text()) or []]


def labels(run_dirs: list[Path]) -> list[str]:
    """Each run's name in the legend: the overrides that differ between the runs (a sweep's
    jobs), else the run folder's name."""
    given = [overrides(run) for run in run_dirs]
    common = set.intersection(*(set(o) for o in given)) if given else set()
    names = []
    for run, items in zip(run_dirs, given, strict=True):
        differ = [o for o in items if o not in common]
        names.append(" ".join(differ) if differ and len(run_dirs) > 1 else run.name)
    return names


def plot(
    run_dirs: list[Path],
    out: Path,
    x: str = "step",
    log_y: bool = False,
    smooth: float = 0.0,
    title: str | None = None,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    if not 0 <= smooth < 1:
        raise ValueError(f"--smooth {smooth} must be in [0, 1)")
    runs = expand(run_dirs)
    fig, ax = plt.subplots(figsize=(8, 5))
    for run_dir, name in zip(runs, labels(runs), strict=True):
        curves = read_curves(run_dir, x)
        xs, ys = curves["train/loss"]
        style = "o-" if len(xs) < 3 else "-"  # a point or two would draw no visible line
        if smooth and len(ys) > 2:
            (faint,) = ax.plot(xs, ys, style, alpha=0.2)
            (line,) = ax.plot(xs, smoothed(ys, smooth), color=faint.get_color(),
                              label=f"{name} train")  # fmt: skip
        else:
            (line,) = ax.plot(xs, ys, style, alpha=0.6, label=f"{name} train")
        if curves["val/loss"][0]:
            ax.plot(*curves["val/loss"], "o-", color=line.get_color(), label=f"{name} val")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title or ", ".join(path.name for path in run_dirs))
    ax.set_xlabel("tokens seen" if x == "tokens" else "optimizer step")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptlab plot",
        description="Train and val loss of runs, or of every job of a sweep folder, to a PNG",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, or sweep folders")
    parser.add_argument("--out", type=Path, default=Path("loss.png"))
    parser.add_argument("--x", choices=["step", "tokens"], default="step")
    parser.add_argument("--log-y", action="store_true", help="a logarithmic loss axis")
    parser.add_argument("--smooth", type=float, default=0.0, help="EMA weight in [0, 1), as W&B's")
    parser.add_argument("--title", default=None, help="default: the folders' names")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(plot(args.runs, args.out, args.x, args.log_y, args.smooth, args.title))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
