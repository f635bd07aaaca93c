"""python -m gptlab prepare data=<config> [data.source.path=...] [data.path=...]

Tokenizes the corpus a data config describes into token shards in ``data.path``, using the same
Hydra data configs as training.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from gptlab.commands import conf_dir
from gptlab.commands.cli import one_line_config_errors, user_errors
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


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="prepare")
def hydra_main(cfg: DictConfig) -> None:
    with user_errors():
        prepare(cfg)


def main() -> None:
    one_line_config_errors()
    hydra_main()


if __name__ == "__main__":
    main()
