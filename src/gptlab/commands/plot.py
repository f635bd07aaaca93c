"""Loss curves of one or several runs, from their CSV logs, to a PNG.

python -m gptlab plot logs/train/runs/exp1 [logs/train/runs/exp2 ...] [--out loss.png] [--x tokens]
"""

from __future__ import annotations

import argparse
import csv
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
    tokens_at_step: dict[int, float] = {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row.get("train/tokens"):
            tokens_at_step[int(row["step"])] = float(row["train/tokens"])
    for row in rows:
        step = int(row["step"])
        position = tokens_at_step.get(step, float("nan")) if x == "tokens" else step
        for key in curves:
            if row.get(key):
                curves[key][0].append(position)
                curves[key][1].append(float(row[key]))
    return curves


def plot(run_dirs: list[Path], out: Path, x: str = "step") -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for run_dir in run_dirs:
        curves = read_curves(run_dir, x)
        (line,) = ax.plot(*curves["train/loss"], alpha=0.6, label=f"{run_dir.name} train")
        if curves["val/loss"][0]:
            ax.plot(*curves["val/loss"], "o-", color=line.get_color(), label=f"{run_dir.name} val")
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
    args = parser.parse_args(argv)
    try:
        print(plot(args.runs, args.out, args.x))
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
