"""Time to a target loss on one GPU: a baseline for a fixed budget sets the target, candidates race.

    python -m gptlab.benchmarks.speedrun [--baseline-steps 400] [--candidate NAME=k=v;k=v ...]
                                         [--seeds 1] [-- <train.py overrides for every run>]

The baseline (GPT-2 124M, AdamW, warm-up + cosine: GPT-2 as nanoGPT and llm.c train it) trains
for ``--baseline-steps`` on the same data; its final validation loss is the target. Each candidate
then trains until its validation loss reaches that target (``callbacks.target.val_loss``), up to
``--max-factor`` times the baseline's steps. Every run validates every ``--val-every`` steps. Times are training time with compiling and
validation excluded (:class:`~gptlab.training.callbacks.TargetLoss`); the baseline's is its whole
budget measured the same way. One JSON line per run, then one per candidate with the ratios.
Default candidates: ``experiment=speedrun_124m``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from gptlab.benchmarks.runs import run


def parse_candidate(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition("=")
    return name, [o for o in overrides.split(";") if o]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-steps", type=int, default=400)
    parser.add_argument("--baseline", default="model=gpt2_124m;model.drop_rate=0.0")
    parser.add_argument("--candidate", action="append", default=[], metavar="NAME=K=V;K=V")
    parser.add_argument("--val-every", type=int, default=25)
    parser.add_argument("--max-factor", type=float, default=1.5)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("overrides", nargs="*", help="train.py overrides for every run")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="gptlab-speedrun-"))
    candidates = [parse_candidate(c) for c in args.candidate] or [
        ("speedrun_124m", ["experiment=speedrun_124m"])
    ]
    steps = args.baseline_steps
    for seed in range(args.seeds):
        common = [*args.overrides, f"seed={1337 + seed}"]
        baseline = run(
            [
                *[o for o in args.baseline.split(";") if o],
                *common,
                f"trainer.max_steps={steps}",
                # validating as often as the candidates: every run pays the same pauses
                f"trainer.val_check_interval={args.val_every}",
                "callbacks.target.val_loss=-1e9",  # never reached: times the whole budget
            ],
            out / f"baseline_seed{seed}",
        )
        baseline["time_s"] = round(baseline.pop("training_s"), 2)
        print(json.dumps({"name": "baseline", "seed": seed, **baseline}), flush=True)
        target = baseline["val_loss"]
        for name, overrides in candidates:
            result = run(
                [
                    *overrides,
                    *common,
                    f"trainer.max_steps={int(steps * args.max_factor)}",
                    f"trainer.val_check_interval={args.val_every}",
                    f"callbacks.target.val_loss={target}",
                ],
                out / f"{name}_seed{seed}",
            )
            line = {"name": name, "seed": seed, "target": target, **result}
            if result.get("target_reached"):
                line["time_ratio"] = round(result["time_to_target_s"] / baseline["time_s"], 3)
                line["step_ratio"] = round(result["steps_to_target"] / steps, 3)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
