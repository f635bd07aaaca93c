"""GPU training throughput, gptlab against a plain PyTorch loop, in one process on one card.

    python -m gptlab bench [--micro-batches 16,32] [--steps 60] [-- <train.py overrides>]

Measures, in this order: the card's bf16 matrix-product ceiling (8192^3); a plain PyTorch training
loop over gptlab's GPT written as the reference loops are (torch.compile, fused AdamW, bf16
autocast, flash attention, random tokens, gradient clipping, no host sync in the step) at each
micro-batch; gptlab's full Lightning path (``train.py``: the real shard loader, logging, the
logged tokens/s) on random-token shards. Prints one JSON line per measurement: tokens/s, MFU
against the datasheet peak and against the measured ceiling, peak memory, and the gptlab/plain ratio.
Steady state only: compile and warm-up steps are excluded; windows are timed with CUDA events
(plain loop) or synchronised at logging steps (Lightning), and the median window is reported.
"""

from __future__ import annotations

import csv
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from gptlab.benchmarks.bench_cli import parser
from gptlab.benchmarks.plain_loop import matmul_ceiling, plain_loop, random_shards
from gptlab.commands import conf_dir
from gptlab.kernels import attention
from gptlab.model import GPT, GPTConfig
from gptlab.training.peaks import peak_flops


class HandTimer(L.Callback):
    """Times optimizer steps [first_step, last_step) by the wall clock, synchronising at both ends:
    the check on the logged tokens/s (:mod:`gptlab.training.metrics`). Writes {"tokens_per_s": ...} to ``out``."""

    def __init__(self, first_step: int, last_step: int, out: str) -> None:
        self.first_step, self.last_step, self.out = first_step, last_step, Path(out)
        self.marks: dict[int, float] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not pl_module.metrics.step_ended(trainer) or step not in (
            self.first_step,
            self.last_step,
        ):
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.marks[step] = time.perf_counter()
        if step == self.last_step:
            tokens = (self.last_step - self.first_step) * batch[0].numel() * trainer.world_size
            rate = tokens / (self.marks[self.last_step] - self.marks[self.first_step])
            self.out.write_text(json.dumps({"tokens_per_s": rate}))


def lightning_overrides(
    overrides: list[str],
    micro_batch: int,
    steps: int,
    workdir: Path,
    run_dir: Path,
    profile_steps: int = 0,
    model: str = "gpt2_124m",
) -> list[str]:
    """The ``train.py`` overrides of one timed run on the random-token shards: ``model`` unless an
    override picks the model or an experiment (whose own model would otherwise be replaced by
    ``model``: the command line's group choice wins over an experiment's)."""
    picks_model = any(o.startswith(("model=", "experiment=")) for o in overrides)
    args = [
        *([] if picks_model else [f"model={model}"]),
        "data=tokens",
        f"data.path={workdir / 'shards'}",
        f"data.batch_size={micro_batch}",
        "data.num_workers=4",
        f"trainer.max_steps={steps}",
        "trainer.val_check_interval=1000000",
        "trainer.limit_val_batches=0",
        "trainer.log_every_n_steps=10",
        "trainer.enable_progress_bar=false",
        "callbacks.model_checkpoint=null",
        "sample.max_new_tokens=0",
        "print_config=false",
        "model.drop_rate=0.0",  # as the plain loop
        f"paths.root_dir={workdir}",
        f"paths.output_dir={run_dir}",
        "+callbacks.hand_timer={_target_: gptlab.benchmarks.throughput.HandTimer,"
        f" first_step: 40, last_step: {steps - 10}, out: '{run_dir}/hand_timer.json'}}",
        *overrides,
    ]
    if profile_steps:  # after the timed span: profiling must not slow the timed steps
        args += [
            "+callbacks.profiler={_target_: gptlab.benchmarks.profile.StepProfiler,"
            f" first_step: {steps - 8}, steps: {min(profile_steps, 6)},"
            f" out: '{run_dir}/profile.json'}}",
        ]
    return args


def lightning_path(
    overrides: list[str],
    micro_batch: int,
    steps: int,
    workdir: Path,
    profile_steps: int = 0,
    model: str = "gpt2_124m",
) -> dict:
    """tokens/s of ``train.py`` as its metrics log it (median of steady windows)."""
    from hydra import compose, initialize_config_dir

    from gptlab.commands.train import train

    run_dir = workdir / f"lightning_mb{micro_batch}_{time.time_ns()}"
    args = lightning_overrides(
        overrides, micro_batch, steps, workdir, run_dir, profile_steps, model
    )
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=args)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    train(cfg)
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("perf/tokens_per_s")]
    # the windows the hand timer covered (steps 40 .. last-10), compile and warm-up excluded
    steady = [float(r["perf/tokens_per_s"]) for r in rows if 40 < int(r["step"]) <= steps - 10]
    by_hand = json.loads((run_dir / "hand_timer.json").read_text())["tokens_per_s"]
    profiled = run_dir / "profile.json"
    # equal windows: their mean rate is the rate of the span; none when logging is sparse
    logged = sum(steady) / len(steady) if steady else float("nan")
    return {
        "tokens_per_s": statistics.median(steady) if steady else by_hand,
        "logged_mean_tokens_per_s": logged,
        "hand_timed_tokens_per_s": by_hand,
        "logged_vs_hand": logged / by_hand,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30
        if torch.cuda.is_available()
        else 0.0,
        "windows": len(steady),
        "overrides": overrides,
        **({"profile": json.loads(profiled.read_text())} if profiled.exists() else {}),
    }


def preset_config(model: str) -> GPTConfig:
    from hydra import compose, initialize_config_dir

    from gptlab.runtime.spec import architecture

    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return architecture(compose("train", overrides=[f"model={model}"]).model)


def report(
    name: str, result: dict, flops_per_token: int, peak: float | None, ceiling: float
) -> dict:
    achieved = result["tokens_per_s"] * flops_per_token
    line = {
        "name": name,
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in result.items()},
        "mfu_datasheet": round(achieved / peak, 4) if peak else None,
        "mfu_measured_ceiling": round(achieved / (ceiling * 1e12), 4),
    }
    print(json.dumps(line), flush=True)
    return line


def main() -> None:
    args = parser().parse_args()

    torch.backends.cuda.matmul.allow_tf32 = True
    name = torch.cuda.get_device_name()
    peak = peak_flops(name, "bf16-mixed")
    ceiling = matmul_ceiling()
    print(
        json.dumps(
            {"device": name, "torch": torch.__version__, "matmul_bf16_tflops": round(ceiling, 1)}
        )
    )
    flops = GPT(preset_config(args.model)).flops_per_token()

    workdir = Path(tempfile.mkdtemp(prefix="gptlab-bench-"))
    random_shards(workdir / "shards", 30_000_000)
    runs = [(f"gptlab_mb{mb}", mb, []) for mb in map(int, args.lightning_micro_batches.split(","))]
    for variant in args.variant:
        name, _, extra = variant.partition("=")
        mb = int(args.lightning_micro_batches.split(",")[0])
        runs.append((f"gptlab_{name}", mb, extra.split(";")))
    # (name, micro-batch, clip in AdamW's kernel, attention kernel); variants are timed against
    # the best plain loop of their repeat, not taken as its reference
    plains = [
        (f"plain_loop_mb{mb}", mb, False, "auto") for mb in map(int, args.micro_batches.split(","))
    ]
    last_mb = int(args.micro_batches.split(",")[-1])
    if args.plain_clip_in_step:
        plains.append((f"plain_loop_mb{last_mb}_clip_in_step", last_mb, True, "auto"))
    if args.plain_attention:
        kernel = args.plain_attention
        attention.check_name(kernel)
        plains.append((f"plain_loop_mb{last_mb}_{kernel}", last_mb, False, kernel))
    ratios: dict[str, list[float]] = {}
    # repeats: every ratio is taken against the plain loop of its own repeat, minutes apart at most,
    # so a card that warms up or clocks down over the benchmark does not favour the runs that come first
    for repeat in range(args.repeats):
        best_plain = 0.0
        for name, mb, in_step, kernel in [] if args.skip_plain else plains:
            with attention.swapped_in(kernel, torch.device("cuda")):
                result = plain_loop(
                    GPTConfig(drop_rate=0.0),
                    mb,
                    args.steps,
                    args.warmup,
                    profile_steps=args.profile_steps,
                    clip_in_step=in_step,
                    attention_kernel=kernel,
                )
            line = report(
                name, {"repeat": repeat, "micro_batch": mb, **result}, flops, peak, ceiling
            )
            if in_step or kernel != "auto":  # a variant of the plain loop, not its reference
                ratios.setdefault(name, []).append(line["tokens_per_s"] / best_plain)
            else:
                best_plain = max(best_plain, result["tokens_per_s"])
            gc.collect()
            torch.cuda.empty_cache()
        for name, mb, extra in runs:
            overrides = [*args.overrides, *extra]
            try:
                result = lightning_path(
                    overrides, mb, args.steps + 40, workdir, args.profile_steps, args.model
                )
            except Exception as err:  # one failing variant must not lose the others' numbers
                print(json.dumps({"name": name, "error": f"{type(err).__name__}: {err}"[:500]}))
                continue
            finally:
                gc.collect()
                torch.cuda.empty_cache()
            line = report(
                name, {"repeat": repeat, "micro_batch": mb, **result}, flops, peak, ceiling
            )
            if best_plain:
                ratio = line["tokens_per_s"] / best_plain
                ratios.setdefault(name, []).append(ratio)
                print(json.dumps({"name": f"ratio_{name}_over_best_plain", "repeat": repeat,
                                  "ratio": round(ratio, 4)}), flush=True)  # fmt: skip
    for name, values in ratios.items():  # per repeat, then their median
        summary = {"repeats": [round(v, 4) for v in values], "median": statistics.median(values)}
        print(json.dumps({"name": f"ratios_{name}", **summary}), flush=True)


if __name__ == "__main__":
    main()
