"""The command-line entry points: thin layers over the library, one module per command.

    python -m gptlab <command> [Hydra overrides]     # or: gptlab <command> ...

``train``, ``eval``, ``generate``, ``prepare`` (Hydra configs from ``conf/``), ``export`` (Hugging
Face), ``plot``, ``sweeps`` (results tables) and ``bench`` (GPU throughput).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def conf_dir() -> str:
    """The ``conf/`` folder: inside the installed package (``pip install .``), else the source
    checkout's top-level ``conf/`` (editable installs, running from a clone)."""
    spec = importlib.util.find_spec("gptlab.conf")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            if (Path(location) / "train.yaml").is_file():
                return str(Path(location))
    return str(Path(__file__).resolve().parents[3] / "conf")
