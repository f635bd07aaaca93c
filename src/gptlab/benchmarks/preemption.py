"""Seconds from SIGTERM to exit of a training run: what SLURM's grace period must cover.

    python -m gptlab.benchmarks.preemption [--repeats 3] [-- <train.py overrides>]

Starts ``train.py`` (GPT-2 124M on random-token shards by default), waits until it has logged
training steps, sends SIGTERM and times the exit (the step in progress, ``last.ckpt``, shutdown).
Prints one JSON line per run and the median.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gptlab.benchmarks.plain_loop import random_shards


def one_run(workdir: Path, name: str, overrides: list[str], wait_s: float) -> dict:
    run_dir = workdir / name
    command = [
        sys.executable, "-m", "gptlab", "train", "data=tokens",
        f"data.path={workdir / 'shards'}", "trainer.max_steps=100000", "logger=csv",
        "trainer.enable_progress_bar=false", "trainer.limit_val_batches=20", "print_config=false",
        f"hydra.run.dir={run_dir}", *overrides,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run_dir / "csv" / "metrics.csv"
    deadline = time.time() + 600
    while not metrics.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(wait_s)  # mid-run, between logging steps
    sent = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=600)
    seconds = time.perf_counter() - sent
    stopped = [line for line in output.splitlines() if "stopped on a signal" in line]
    return {
        "run": name,
        "exit_code": process.returncode,
        "signal_to_exit_s": round(seconds, 2),
        "stopped": stopped[-1].split(" - ")[-1] if stopped else None,
        "validation_after_signal": "Validation" in output.split("received SIGTERM")[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wait-s", type=float, default=5.0)
    parser.add_argument("--model", default="gpt2_124m")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gptlab-preempt-"))
    random_shards(workdir / "shards", 20_000_000)
    times = []
    for i in range(args.repeats):
        overrides = [f"model={args.model}", *args.overrides]
        result = one_run(workdir, f"run{i}", overrides, args.wait_s)
        print(json.dumps(result), flush=True)
        times.append(result["signal_to_exit_s"])
    print(json.dumps({"median_signal_to_exit_s": statistics.median(times)}), flush=True)


if __name__ == "__main__":
    main()
