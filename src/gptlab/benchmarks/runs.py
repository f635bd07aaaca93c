"""Training runs inside one benchmark process: compose ``train.yaml`` with overrides, train, and
summarise what the run logged (throughput, memory, losses, time to a target)."""

from __future__ import annotations

import csv
import gc
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir

from gptlab.commands import conf_dir

# what every benchmark run leaves out: printing, W&B, text samples, checkpoints of the best
QUIET = [
    "print_config=false",
    "logger=csv",
    "sample.max_new_tokens=0",
    "callbacks.text_samples=null",
    "callbacks.model_checkpoint=null",
    "trainer.enable_progress_bar=false",
]


def compose_run(overrides: list[str], out: Path) -> Any:
    """The train config of a benchmark run with ``overrides``, writing into ``out``."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        paths = [f"paths.root_dir={Path.cwd()}", f"paths.output_dir={out}"]
        return compose("train", overrides=[*QUIET, *paths, *overrides])


def run(overrides: list[str], out: Path) -> dict[str, Any]:
    """Train with ``overrides`` into ``out``; the run's summary (with its training time: the
    run's own clock, without compiling, validation and checkpoint saves)."""
    from gptlab.commands.train import train_spec
    from gptlab.runtime import run_folder
    from gptlab.runtime.spec import build_spec

    spec = build_spec(compose_run(overrides, out))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.time()
    attempt = run_folder.begin(spec.run_dir)
    try:
        trained = train_spec(spec, attempt)
    finally:
        run_folder.end(attempt)
    metrics = {**trained.metrics, "training_s": trained.facts.get("training_s")}
    summary = summarize(out, metrics)
    summary["wall_s"] = round(time.time() - started, 1)
    if torch.cuda.is_available():
        summary["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return summary


def summarize(out: Path, metrics: dict[str, float]) -> dict[str, Any]:
    with open(out / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    rates = [float(r["perf/tokens_per_s"]) for r in rows if r.get("perf/tokens_per_s")]
    steady = rates[1:] or rates  # the first window holds compiling and warm-up
    val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
    keep = (
        "time_to_target_s",
        "tokens_to_target",
        "steps_to_target",
        "target_reached",
        "training_s",
    )
    return {
        "val_loss": round(val[-1], 4) if val else None,
        "tokens_per_s": round(statistics.median(steady)) if steady else None,
        "tokens": metrics.get("train/tokens"),
        **{k: metrics[k] for k in keep if metrics.get(k) is not None},
    }
