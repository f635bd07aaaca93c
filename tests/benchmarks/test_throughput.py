"""The overrides of ``gptlab bench``'s timed runs (the GPU measurement itself is in scripts/)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

from conftest import CONF_DIR
from gptlab.benchmarks.throughput import lightning_overrides


def composed(overrides: list[str], tmp_path: Path):
    args = lightning_overrides(overrides, 8, 100, tmp_path, tmp_path / "run", profile_steps=6)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=args)


def test_a_variant_with_an_experiment_times_the_experiments_model(tmp_path):
    # the bench's model=gpt2_124m used to win over the experiment's model: the "preset" was GPT-2
    cfg = composed(["experiment=speedrun_124m"], tmp_path)
    assert cfg.model.pos_emb == "rope" and cfg.model.mlp == "relu2" and cfg.model.qk_norm
    assert cfg.model.value_embeds == 3 and cfg.optim.name == "muon"
    # still on the bench's random-token shards and its own step count
    assert cfg.data.path == str(tmp_path / "shards") and cfg.trainer.max_steps == 100
    assert "profiler" in cfg.callbacks


def test_the_default_variant_times_the_model_asked_for(tmp_path):
    assert composed([], tmp_path).model.pos_emb == "learned"
    assert composed(["model=llama_124m"], tmp_path).model.pos_emb == "rope"
