"""gptlab: GPT pretraining experiments with Lightning and Hydra."""

from __future__ import annotations

from typing import Any

__version__ = "0.3.0"
__all__ = ["GPT", "GPTConfig", "__version__"]


def __getattr__(name: str) -> Any:
    # imported on first use: `import gptlab.commands.startup` must not wait for torch
    if name in ("GPT", "GPTConfig"):
        from gptlab import model

        return getattr(model, name)
    raise AttributeError(f"module 'gptlab' has no attribute {name!r}")
