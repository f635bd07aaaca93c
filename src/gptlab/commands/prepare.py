"""python -m gptlab prepare data=<config> [data.source.path=...] [data.path=...]

Tokenizes the corpus a data config describes into token shards in ``data.path``, using the same
Hydra data configs as training.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

from gptlab.commands.cli import user_errors
from gptlab.commands.entry import run_hydra
from gptlab.data.prepare import prepare_corpus
from gptlab.errors import ConfigError

log = logging.getLogger(__name__)


def prepare(cfg: DictConfig) -> dict:
    data = cfg.data
    if "source" not in data or "path" not in data:
        raise ConfigError(
            f"data={cfg.get('data_name', 'this config')} has nothing to prepare (no data.source); "
            "use data=text, tinyshakespeare, openwebtext or fineweb_edu"
        )
    source = OmegaConf.to_container(data.source, resolve=True)
    options = OmegaConf.to_container(data.get("prepare") or {}, resolve=True)
    return prepare_corpus(source, data.path, **options)


def prepare_job(cfg: DictConfig) -> None:
    with user_errors():
        prepare(cfg)


def main() -> None:
    run_hydra("prepare", prepare_job)


if __name__ == "__main__":
    main()
