"""The one way a command runs under Hydra: config errors and gptlab's own errors as one line each
with exit code 2 (``HYDRA_FULL_ERROR=1``: the traceback), the config from ``conf/``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hydra
from omegaconf import DictConfig

from gptlab.commands import conf_dir
from gptlab.commands.cli import one_line_config_errors


def run_hydra(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """Compose ``conf/<config_name>.yaml`` with the command line and run ``task`` on it (a sweep
    with ``-m``: once per job), as ``hydra.main`` does."""
    one_line_config_errors()
    hydra.main(version_base="1.3", config_path=conf_dir(), config_name=config_name)(task)()
