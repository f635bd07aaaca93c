"""Shared fixtures: composing the real Hydra configs with small, fast overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# a model and run small enough for a 2-core CPU: seconds, not minutes
TINY = [
    "model.context_length=32",
    "model.emb_dim=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "trainer.limit_val_batches=4",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "callbacks.model_summary=null",
    "sample.max_new_tokens=4",
]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tokenization cache for the whole test session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def compose_train(tmp_path: Path, cache_dir: Path) -> Callable[..., DictConfig]:
    """compose_train(*overrides) -> the composed train config, writing into tmp_path."""

    def _compose(*overrides: str, tiny: bool = True) -> DictConfig:
        paths = [
            f"paths.root_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'run'}",
            f"paths.cache_dir={cache_dir}",
        ]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose("train", overrides=[*(TINY if tiny else []), *paths, *overrides])

    return _compose
