"""The one-GPU speedrun track: fixed step budgets judged over seeds, or a race to a target loss.

    python -m gptlab.benchmarks.speedrun [--budget 1200:300 ...] [--seeds 3]
        [--candidate NAME=k=v;k=v ...] [--baseline k=v;k=v] [--table FILE] [-- overrides]
    python -m gptlab.benchmarks.speedrun --race [--budget 1200] [--max-factor 1.5] ...

**Track** (the default). A budget ``B:C`` trains the baseline (GPT-2 124M, AdamW 6e-4, warm-up 30,
cosine to 10%: GPT-2 as nanoGPT and llm.c train it) for ``B`` steps and each candidate for its own
``C`` steps, each schedule sized to its own budget, as the speedruns run. Every run validates
once, at its end, on the whole validation split. The target is the mean of the baseline's final
validation losses over the seeds; a candidate passes when the mean of its own is below it with a
one-sided t-test p < ``--alpha`` (0.01, modded-nanogpt's rule), over ``--seeds`` seeds (3 or more;
one seed gives losses and times without a verdict: an ablation).
Times are training time (the run's own clock: compiling, validation and saves left out).

**Race** (``--race``, for exploring). The baseline trains ``B`` steps; each candidate trains until
its validation loss reaches the baseline's, validating every ``--val-every`` steps.

Every run gets the same tokens per step and the same data, or the benchmark stops before training
(``--allow-unequal-tokens`` runs anyway and says so in every line). One JSON line per run, one per
candidate and budget with the verdict; ``--table`` also writes them as a Markdown table with the
card and versions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from gptlab.benchmarks.runs import compose_run, run
from gptlab.benchmarks.stats import verdict
from gptlab.benchmarks.track_table import environment, write_table
from gptlab.errors import ConfigError

BASELINE = "model=gpt2_124m;model.drop_rate=0.0;data=pycode;data.batch_size=32"
CANDIDATE = "speedrun_124m=experiment=speedrun_124m"


def overrides_of(text: str) -> list[str]:
    return [o for o in text.split(";") if o]


def parse_candidate(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition("=")
    return name, overrides_of(overrides)


def parse_budget(text: str, race: bool) -> tuple[int, int]:
    """``B:C`` (baseline and candidate steps; ``B`` alone in a race)."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if race and len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        form = "B (baseline steps)" if race else "B:C (baseline and candidate steps), e.g. 1200:300"
        raise ConfigError(f"--budget {text!r}: give {form}")
    return parts[0], parts[1]


def what_a_step_trains(overrides: list[str]) -> tuple[float, str, list[int] | None]:
    """(tokens per optimizer step, the training data's folder, the batch-size schedule) of a run
    with ``overrides``; under a schedule, its mean tokens per step (equal shares of the steps)."""
    cfg = compose_run(overrides, Path(tempfile.gettempdir()) / "gptlab-compose-only")
    data, trainer = cfg.data, cfg.trainer
    devices = trainer.devices if isinstance(trainer.devices, int) else 1
    schedule = data.get("batch_size_schedule")
    per_device = statistics.fmean(schedule) if schedule else data.batch_size
    sequences = data.get("global_batch_size") or per_device * devices * trainer.num_nodes
    where = str(data.get("path") or data.get("_target_"))
    return sequences * cfg.model.context_length, where, list(schedule) if schedule else None


def check_comparable(runs: dict[str, list[str]], allow_unequal: bool) -> list[str]:
    """Notes on runs that differ from the baseline (the first) in tokens per step; raise
    ConfigError unless ``allow_unequal``. A batch-size schedule whose mean equals the baseline's
    batch (the same tokens over the run) is stated, not refused. Other data than the baseline's is
    always refused."""
    facts = {name: what_a_step_trains(overrides) for name, overrides in runs.items()}
    (base_name, (base_tokens, base_data, _)), *others = facts.items()
    notes = []
    for name, (tokens, data, schedule) in others:
        if data != base_data:
            raise ConfigError(
                f"{name} trains on {data}, the baseline on {base_data}: give both "
                "the same data (an override after --)"
            )
        if schedule and tokens == base_tokens:
            notes.append(
                f"{name} grows its batch (data.batch_size_schedule={schedule}, equal shares of "
                f"its steps): {tokens:,.0f} tokens per step on average, as the baseline"
            )
        elif tokens != base_tokens:
            note = f"{name} trains {tokens:,.0f} tokens per step, the baseline {base_tokens:,.0f}"
            if not allow_unequal:
                raise ConfigError(
                    f"{note}: set the same data.batch_size (or "
                    "data.global_batch_size), or pass --allow-unequal-tokens"
                )
            notes.append(note)
    return notes


def fixed_budget(overrides: list[str], steps: int, seed: int) -> list[str]:
    return [
        *overrides,
        f"seed={seed}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",  # one validation: at the end
        "trainer.limit_val_batches=null",
        "optim.decay_steps=null",
    ]


def earlier_baseline(path: Path, steps: int) -> list[dict]:
    """The baseline's runs of ``steps`` steps from the JSON lines an earlier track printed (a long
    baseline trained once, its candidates judged by later invocations)."""
    try:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as err:
        raise ConfigError(f"--baseline-from {path}: cannot read its JSON lines ({err})") from err
    runs = [
        r for r in lines
        if r.get("name") == "baseline" and r.get("steps") == steps and "seed" in r
        and r.get("val_loss") is not None
    ]  # fmt: skip
    if not runs:
        raise ConfigError(
            f"--baseline-from {path}: no finished baseline run of {steps} steps in it; "
            f"run the track with --budget {steps}:C first"
        )
    return runs


def track(
    args: argparse.Namespace, candidates: list[tuple[str, list[str]]], out: Path, notes: list[str]
) -> list[dict]:
    rows = []
    baseline = [*overrides_of(args.baseline), *args.overrides]
    seeds = [args.first_seed + i for i in range(args.seeds)]
    base_seeds = seeds[: args.baseline_seeds or args.seeds]
    for text in args.budget or ["1200:300"]:
        base_steps, steps = parse_budget(text, race=False)
        if args.baseline_from:
            base_runs = earlier_baseline(args.baseline_from, base_steps)
        else:
            base_runs = []
            for seed in base_seeds:
                result = run(
                    fixed_budget(baseline, base_steps, seed), out / f"b{base_steps}_baseline_{seed}"
                )
                print(
                    json.dumps({"name": "baseline", "steps": base_steps, "seed": seed, **result}),
                    flush=True,  # a run's line survives a later run's time limit
                )
                base_runs.append(result)
        target = statistics.fmean(r["val_loss"] for r in base_runs)
        base = verdict("baseline", base_steps, base_runs, target, 1.0, args.alpha)
        budget_notes = list(notes)
        if args.baseline_from:  # its times come from an earlier invocation, maybe another machine
            base["name"] = f"baseline (from {args.baseline_from.name})"
            budget_notes.append(
                f"the baseline's runs are read from {args.baseline_from}: its training time was "
                "measured in an earlier invocation, so the time ratio holds only on the same kind of card"
            )
        base_time = statistics.fmean(r["training_s"] for r in base_runs)
        rows.append({**base, "time_ratio": 1.0, "p_value": None, "passed": None})
        for name, overrides in candidates:
            overrides = [*overrides, *args.overrides]
            results = []
            for seed in seeds:
                result = run(
                    fixed_budget(overrides, steps, seed), out / f"b{base_steps}_{name}_{seed}"
                )
                print(
                    json.dumps({"name": name, "steps": steps, "seed": seed, **result}), flush=True
                )
                results.append(result)
            row = verdict(name, steps, results, target, base_time, args.alpha)
            print(
                json.dumps({"budget": f"{base_steps}:{steps}", **row, "notes": budget_notes}),
                flush=True,
            )
            rows.append(row)
    return rows


def race(
    args: argparse.Namespace, candidates: list[tuple[str, list[str]]], out: Path, notes: list[str]
) -> list[dict]:
    rows = []
    steps = parse_budget((args.budget or ["400"])[0], race=True)[0]
    every = [f"trainer.val_check_interval={args.val_every}"]  # every run pays the same pauses
    for seed in (args.first_seed + i for i in range(args.seeds)):
        common = [*args.overrides, f"seed={seed}", *every]
        baseline = run(
            [*overrides_of(args.baseline), *common, f"trainer.max_steps={steps}"],
            out / f"baseline_{seed}",
        )
        print(json.dumps({"name": "baseline", "seed": seed, **baseline}), flush=True)
        target = baseline["val_loss"]
        for name, overrides in candidates:
            limit = f"trainer.max_steps={int(steps * args.max_factor)}"
            result = run(
                [*overrides, *common, limit, f"callbacks.target.val_loss={target}"],
                out / f"{name}_{seed}",
            )
            line = {"name": name, "seed": seed, "target": target, **result, "notes": notes}
            if result.get("target_reached"):
                line["time_ratio"] = round(result["time_to_target_s"] / baseline["training_s"], 3)
                line["step_ratio"] = round(result["steps_to_target"] / steps, 3)
            print(json.dumps(line), flush=True)
            rows.append(line)
    return rows


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gptlab.benchmarks.speedrun",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument(
        "--budget",
        action="append",
        metavar="B:C",
        help="baseline:candidate steps (repeatable; default 1200:300)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds of each run (default 3)")
    parser.add_argument("--first-seed", type=int, default=1337, help="the first; then +1, +2, ...")
    parser.add_argument(
        "--baseline-seeds",
        type=int,
        default=None,
        help="seeds of the baseline, whose mean is the target (default: --seeds)",
    )
    parser.add_argument(
        "--baseline-from",
        type=Path,
        default=None,
        metavar="JSONL",
        help="judge against the baseline runs an earlier track printed (with this --baseline) "
        "instead of training them",
    )
    parser.add_argument("--alpha", type=float, default=0.01, help="a pass needs p below this")
    parser.add_argument("--baseline", default=BASELINE, metavar="K=V;K=V", help="default: GPT-2")
    parser.add_argument("--candidate", action="append", default=[], metavar="NAME=K=V;K=V",
                        help=f"repeatable (default {CANDIDATE})")  # fmt: skip
    parser.add_argument("--race", action="store_true", help="race to the baseline's loss instead")
    parser.add_argument("--val-every", type=int, default=25, help="race: validate every N steps")
    parser.add_argument("--max-factor", type=float, default=1.5, help="race: steps cap / budget")
    parser.add_argument("--allow-unequal-tokens", action="store_true",
                        help="train unequal tokens per step anyway, noted in every result")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="run folders (default: a temp dir)")
    parser.add_argument("--table", type=Path, default=None, help="also write a Markdown table")
    parser.add_argument("overrides", nargs="*", help="train.py overrides for every run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    candidates = [parse_candidate(c) for c in args.candidate or [CANDIDATE]]
    try:
        if args.seeds < 1:
            raise ConfigError(f"--seeds {args.seeds}: give 1 or more (3 or more for a verdict)")
        for text in args.budget or []:
            base_steps = parse_budget(text, args.race)[0]
            if args.baseline_from and not args.race:
                earlier_baseline(args.baseline_from, base_steps)  # read before any training
        runs = {"baseline": [*overrides_of(args.baseline), *args.overrides]}
        runs.update({name: [*o, *args.overrides] for name, o in candidates})
        notes = check_comparable(runs, args.allow_unequal_tokens)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="gptlab-speedrun-"))
    rows = (race if args.race else track)(args, candidates, out, notes)
    if args.table is not None and not args.race:
        write_table(
            args.table,
            rows,
            environment(),
            " ".join(
                [
                    "python -m gptlab.benchmarks.speedrun",
                    *(argv if argv is not None else sys.argv[1:]),
                ]
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
