"""The run spec: one typed object, checked once, before anything is written."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from conftest import compose_run, start_job, tiny
from gptlab.data.datamodule import TokenDataModule
from gptlab.runtime import spec as spec_module
from gptlab.runtime.spec import RunSpec, build_spec


def test_a_start_checks_its_settings_and_data_and_reads_its_checkpoint_once(
    tmp_path, cache_dir, monkeypatch
):
    run = tmp_path / "run"
    assert start_job(tmp_path, run, cache_dir) is None  # a 2-step run to resume
    counts: Counter[str] = Counter()

    def counted(name, original):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        spec_module, "check_settings", counted("settings", spec_module.check_settings)
    )
    monkeypatch.setattr(TokenDataModule, "check", counted("data", TokenDataModule.check))
    load = torch.load

    def torch_load(path, *args, **kwargs):
        if Path(str(path)).name == "last.ckpt":
            counts["checkpoint"] += 1
        return load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", torch_load)
    assert start_job(tmp_path, run, cache_dir, "trainer.max_steps=4") is None  # the resume
    assert counts == {"settings": 1, "data": 1, "checkpoint": 1}
    assert torch.load is torch_load and load(run / "checkpoints" / "last.ckpt")["global_step"] == 4


def test_the_spec_is_typed_and_resolved(tmp_path, cache_dir):
    spec = build_spec(
        compose_run(tmp_path, tmp_path / "run", cache_dir, *tiny("data.global_batch_size=8"))
    )
    assert isinstance(spec, RunSpec)
    assert spec.model.emb_dim == 32 and spec.optim.name == "adamw" and spec.kernels.loss == "auto"
    assert spec.devices.device_type == "cpu" and spec.devices.precision == "32-true"
    assert spec.devices.world_size == 1 and spec.accumulation == 2  # 8 sequences of 4 per step
    assert spec.resume is None and spec.max_steps == 20 and not (tmp_path / "run").exists()


def test_a_warm_up_longer_than_the_run_is_said_once(tmp_path, cache_dir):
    cfg = compose_run(
        tmp_path,
        tmp_path / "run",
        cache_dir,
        *tiny("optim.warmup_steps=100000", "trainer.max_steps=10"),
    )
    (warning,) = build_spec(cfg).warnings
    assert "optim.warmup_steps=100000 is longer than the run's 10 steps" in warning
    assert "never reaches optim.lr=0.0006" in warning


def test_a_window_schedule_is_checked_against_the_models_window(tmp_path, cache_dir):
    import pytest

    from gptlab.errors import ConfigError

    def spec(*overrides):
        return build_spec(compose_run(tmp_path, tmp_path / "run", cache_dir, *tiny(*overrides)))

    with pytest.raises(ConfigError, match="module.attn_window_start grows a sliding window"):
        spec("module.attn_window_start=8")
    with pytest.raises(ConfigError, match="module.attn_window_growth=2.0 must be in"):
        spec("model.attn_window=16", "module.attn_window_growth=2.0")
    assert spec("model.attn_window=16", "module.attn_window_start=8").module.attn_window_start == 8
    assert not (tmp_path / "run").exists()
