"""The throughput monitor counts training only; the progress line; text samples."""

from __future__ import annotations

import statistics

from conftest import read_metrics
from gptlab.commands.train import train


def test_throughput_windows_exclude_validation(compose_train, tmp_path):
    cfg = compose_train(
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        "trainer.log_every_n_steps=5",
        "+callbacks.slow={_target_: faults.SlowValidation, seconds: 0.5}",
    )
    train(cfg)
    rows = read_metrics(tmp_path / "run")
    rates = {
        int(r["step"]) + 1: float(r["perf/tokens_per_s"])
        for r in rows
        if r.get("perf/tokens_per_s")
    }
    with_validation = [rates[s] for s in (15, 25)]  # the windows right after validations
    without = [rates[s] for s in (10, 20, 30)]
    # a 0.5 s validation inside a window of five tiny steps would divide its rate many times over
    assert min(with_validation) > 0.4 * statistics.median(without), rates
    val_seconds = [float(r["perf/val_s"]) for r in rows if r.get("perf/val_s")]
    assert len(val_seconds) == 3 and min(val_seconds) >= 0.5
