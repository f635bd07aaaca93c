"""The target-loss callback: stops at the target and records time, tokens and steps; a missed
target is recorded as missed and scores the worst value in a sweep."""

from __future__ import annotations

import pytest

from conftest import column, read_metrics
from gptlab.commands.train import optimized_value, train
from gptlab.errors import ConfigError
from gptlab.runtime.result import WORST, score
from gptlab.training.callbacks import TargetLoss


def test_an_easy_target_stops_training_and_records_the_cost(compose_train, tmp_path):
    cfg = compose_train(
        "trainer.max_steps=40",
        "trainer.val_check_interval=5",
        "optim.lr=3e-3",
        "optim.warmup_steps=2",
        "callbacks.target.val_loss=9.0",
        "optimized_metric=time_to_target_s",
    )
    metrics = train(cfg)
    steps = metrics["steps_to_target"]
    assert metrics["target_reached"] == 1.0 and 5 <= steps < 40 and steps % 5 == 0
    assert metrics["tokens_to_target"] == steps * 4 * 32
    assert 0 < metrics["time_to_target_s"] < 60
    assert optimized_value(cfg, metrics) == metrics["time_to_target_s"]
    rows = read_metrics(tmp_path / "run")
    assert column(rows, "steps_to_target") == [steps]
    val = [(int(r["step"]), float(r["val/loss"])) for r in rows if r.get("val/loss")]
    assert val[-1][0] == steps and val[-1][1] <= 9.0  # stopped at the first validation below
    assert all(loss > 9.0 for _, loss in val[:-1])


def test_a_missed_target_is_recorded_and_scores_the_worst_value(compose_train, tmp_path):
    cfg = compose_train(
        "trainer.max_steps=6",
        "callbacks.target.val_loss=0.5",
        "optimized_metric=time_to_target_s",
    )
    metrics = train(cfg)
    assert metrics["target_reached"] == 0.0 and "time_to_target_s" not in metrics
    assert score(optimized_value(cfg, metrics)) == WORST
    assert column(read_metrics(tmp_path / "run"), "target_reached") == [0.0]


def test_the_target_is_checked():
    with pytest.raises(ConfigError, match="callbacks.target.val_loss='low' must be a number"):
        TargetLoss(val_loss="low")
