"""End to end: through Hydra's compose, and through train.py as a user runs it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate

from conftest import ROOT, TINY
from gptlab.train import optimized_value, train


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key)]


def test_short_training_through_compose_lowers_the_loss(compose_train, tmp_path):
    cfg = compose_train("optim.lr=3e-3", "optim.warmup_steps=5", "trainer.max_steps=40")
    metrics = train(cfg)
    rows = read_metrics(tmp_path / "run")
    train_loss, val_loss = column(rows, "train/loss"), column(rows, "val/loss")
    assert train_loss[0] > 10.0  # about ln(50257) = 10.8 at the start
    assert train_loss[-1] < train_loss[0] - 2.0
    assert val_loss[-1] < val_loss[0]
    assert metrics["val/ppl"] == pytest.approx(2.718281828 ** metrics["val/loss"], rel=1e-4)
    assert optimized_value(cfg, metrics) == metrics["val/loss"]
    assert column(rows, "lr")  # the schedule is logged
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


def test_model_overrides_just_work(compose_train):
    cfg = compose_train(
        "model.n_layers=4",
        "model.n_heads=4",
        "model.emb_dim=128",
        "model.drop_rate=0.0",
        tiny=False,
    )
    config = instantiate(cfg.model)
    assert (config.n_layers, config.n_heads, config.emb_dim, config.hidden_dim) == (4, 4, 128, 512)
    assert cfg.data.context_length == config.context_length


@pytest.mark.parametrize(
    ("name", "layers", "width", "heads"),
    [
        ("gpt2_124m", 12, 768, 12),
        ("gpt2_medium", 24, 1024, 16),
        ("gpt2_large", 36, 1280, 20),
        ("gpt2_xl", 48, 1600, 25),
    ],
)
def test_gpt2_family_configs(compose_train, name, layers, width, heads):
    cfg = compose_train(f"model={name}", tiny=False)
    config = instantiate(cfg.model)
    assert (config.n_layers, config.emb_dim, config.n_heads) == (layers, width, heads)
    assert (config.vocab_size, config.context_length, config.qkv_bias) == (50257, 1024, False)


def run_train(tmp_path: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """python train.py ARGS, launched from tmp_path as a user would, outputs kept in tmp_path."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop("HYDRA_FULL_ERROR")
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cfg_job_prints_the_composed_config(tmp_path):
    result = run_train(tmp_path, "--cfg", "job")
    assert result.returncode == 0, result.stderr
    for key in ("model:", "emb_dim:", "data:", "trainer:", "optim:", "callbacks:", "logger:"):
        assert key in result.stdout


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.emb_dim=100", "model.emb_dim=100 must be divisible by model.n_heads=12"),
        ("model.drop_rate=-0.1", "model.drop_rate=-0.1"),
        ("model.n_layers=0", "model.n_layers=0"),
    ],
)
def test_impossible_override_stops_with_one_line(tmp_path, override, expected):
    result = run_train(tmp_path, "model=gpt2_124m", override)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: {lines[-1].removeprefix('error: ')}"]
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not list(tmp_path.rglob("*.ckpt"))


def test_train_py_runs_and_prints_a_sample(tmp_path):
    result = run_train(tmp_path, *TINY, "debug=fast")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sample from the trained model:" in result.stdout
    assert "GPT: " in result.stdout + result.stderr  # the model summary with its parameter count
    runs = list((tmp_path / "logs" / "debug" / "runs").iterdir())
    assert len(runs) == 1
    assert (runs[0] / ".hydra" / "config.yaml").is_file()
    assert (runs[0] / "csv" / "metrics.csv").is_file()


@pytest.mark.slow
def test_two_real_steps_of_gpt2_124m(tmp_path):
    result = run_train(
        tmp_path,
        "model=gpt2_124m",
        "trainer.max_steps=2",
        "data.batch_size=1",
        "trainer.accelerator=cpu",
        "trainer.limit_val_batches=1",
        "sample.max_new_tokens=2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "124,412,160 parameters" in result.stdout + result.stderr
    assert "max_steps=2` reached" in result.stdout + result.stderr


def test_the_gpt2_fineweb_experiment_composes_to_the_recipe(compose_train):
    cfg = compose_train("experiment=gpt2_124m_fineweb_edu", tiny=False)
    model = instantiate(cfg.model)
    assert (model.emb_dim, model.n_layers, model.padded_vocab_size) == (768, 12, 50304)
    assert cfg.data.global_batch_size * cfg.data.context_length == 524_288
    assert cfg.trainer.strategy._target_ == "gptlab.distributed.ddp_strategy"
    assert cfg.trainer.max_steps == 19073
