"""Throughput counts training time only; text samples; the best checkpoint."""

from __future__ import annotations

import statistics

import pytest

from conftest import read_metrics
from gptlab.commands.train import train


@pytest.mark.slow
def test_throughput_windows_exclude_validation_and_the_best_checkpoint(
    compose_train, tmp_path, monkeypatch
):
    import time

    from lightning.pytorch.callbacks import ModelCheckpoint

    save = ModelCheckpoint._save_checkpoint

    def slow_save(self, trainer, filepath):  # a best checkpoint that takes 0.5 s to write
        time.sleep(0.5)
        save(self, trainer, filepath)

    monkeypatch.setattr(ModelCheckpoint, "_save_checkpoint", slow_save)
    cfg = compose_train(
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        "trainer.log_every_n_steps=5",
        "+callbacks.slow={_target_: faults.SlowValidation, seconds: 0.5}",
    )
    train(cfg)
    rows = read_metrics(tmp_path / "run")
    rates = {
        int(r["step"]): float(r["perf/tokens_per_s"]) for r in rows if r.get("perf/tokens_per_s")
    }
    with_validation = [rates[s] for s in (15, 25)]  # the windows right after validations
    without = [rates[s] for s in (10, 20, 30)]
    # a 0.5 s validation (or save) inside a window of five tiny steps would divide its rate many
    # times over
    assert min(with_validation) > 0.4 * statistics.median(without), rates
    val_seconds = [float(r["perf/val_s"]) for r in rows if r.get("perf/val_s")]
    assert len(val_seconds) == 3 and min(val_seconds) >= 0.5


def test_a_run_shorter_than_the_sample_interval_still_samples_its_final_model():
    from types import SimpleNamespace

    import torch

    from gptlab.model import GPT, GPTConfig
    from gptlab.training.callbacks import TextSamples
    from gptlab.training.metrics import StepMetrics

    tables = []
    logger = SimpleNamespace(log_text=lambda key, columns, data, step: tables.append(list(data)))
    trainer = SimpleNamespace(
        global_step=3,
        is_global_zero=True,
        loggers=[logger],
        callbacks=[],
        strategy=SimpleNamespace(root_device=torch.device("cpu")),
    )
    model = SimpleNamespace(
        model=GPT(GPTConfig(context_length=16, emb_dim=32, n_heads=2, n_layers=1)),
        metrics=StepMetrics(),
        stop_reason=None,
    )
    samples = TextSamples(every_n_steps=500, prompts=["The", "In"], max_new_tokens=2)
    samples.on_train_end(trainer, model)
    assert [row[:2] for row in tables[-1]] == [[3, "The"], [3, "In"]]
    samples.on_train_end(trainer, model)  # that step is sampled already
    assert len(tables) == 1


def test_a_nan_validation_loss_is_never_the_best_checkpoint(tmp_path):
    from types import SimpleNamespace

    import torch

    from gptlab.checkpoints import BestCheckpoint

    best = BestCheckpoint(dirpath=str(tmp_path), monitor="val/loss", save_top_k=1)
    trainer = SimpleNamespace(strategy=SimpleNamespace(reduce_boolean_decision=lambda x, **kw: x))
    assert not best.check_monitor_top_k(trainer, torch.tensor(float("nan")))
    assert not best.check_monitor_top_k(trainer, torch.tensor(float("inf")))
    assert best.check_monitor_top_k(trainer, torch.tensor(3.2))  # no best yet: a finite loss is
