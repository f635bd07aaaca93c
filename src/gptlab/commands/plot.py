"""Loss curves of one or several runs, from their CSV logs, to a PNG.

python -m gptlab plot logs/train/runs/exp1 [logs/train/runs/exp2 ...] [--out loss.png] [--x tokens]
                      [--log-y] [--smooth 0.6] [--title "..."]
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
    fig, ax = plt.subplots(figsize=(8, 5))
    for run_dir in run_dirs:
        curves = read_curves(run_dir, x)
        xs, ys = curves["train/loss"]
        style = "o-" if len(xs) < 3 else "-"  # a point or two would draw no visible line
        if smooth and len(ys) > 2:
            (faint,) = ax.plot(xs, ys, style, alpha=0.2)
            (line,) = ax.plot(xs, smoothed(ys, smooth), color=faint.get_color(),
                              label=f"{run_dir.name} train")  # fmt: skip
        else:
            (line,) = ax.plot(xs, ys, style, alpha=0.6, label=f"{run_dir.name} train")
        if curves["val/loss"][0]:
            ax.plot(*curves["val/loss"], "o-", color=line.get_color(), label=f"{run_dir.name} val")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title or ", ".join(run_dir.name for run_dir in run_dirs))
    ax.set_xlabel("tokens seen" if x == "tokens" else "optimizer step")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plot train and val loss of runs to a PNG")
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (holding csv/metrics.csv)")
    parser.add_argument("--out", type=Path, default=Path("loss.png"))
    parser.add_argument("--x", choices=["step", "tokens"], default="step")
    parser.add_argument("--log-y", action="store_true", help="a logarithmic loss axis")
    parser.add_argument("--smooth", type=float, default=0.0, help="EMA weight in [0, 1), as W&B's")
    parser.add_argument("--title", default=None, help="default: the run names")
    args = parser.parse_args(argv)
    try:
        print(plot(args.runs, args.out, args.x, args.log_y, args.smooth, args.title))
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
