"""Config keys that moved between versions: an old command line gets one line naming the new key."""

from __future__ import annotations

import re

from gptlab.errors import ConfigError

# run options left the architecture config (gptlab 0.2); kernel choices and the initial weights
# left the module's (gptlab 0.3)
MOVED_KEYS = {
    "model.compile": "kernels.compile",
    "model.compile_mode": "kernels.compile_mode",
    "model.fused_loss": "kernels.fused_loss",
    "model.init_from": "init_from",
    "module.compile": "kernels.compile",
    "module.compile_mode": "kernels.compile_mode",
    "module.compile_options": "kernels.compile_options",
    "module.fused_loss": "kernels.fused_loss",
    "module.loss_kernel": "kernels.loss",
    "module.attention": "kernels.attention",
    "module.float8": "kernels.float8",
    "module.init_from": "init_from",
    "module.seed": "seed",
    "callbacks.throughput.peak_tflops": "module.peak_tflops",
}


def moved(key: str) -> ConfigError | None:
    """The error for a key that moved (``model.compile``), or None."""
    new = MOVED_KEYS.get(key)
    return None if new is None else ConfigError(f"{key} is now {new}: set {new}=... instead")


def moved_key_error(text: str) -> ConfigError | None:
    """The error for a moved key that a config error's text names (Hydra's "Could not override
    'module.compile'"), or None."""
    for old in MOVED_KEYS:  # the whole key quoted first
        if re.search(rf"'{re.escape(old)}'", text):
            return moved(old)
    for old in MOVED_KEYS:  # then its last part quoted, where the text names its group
        group, short = old.rsplit(".", 1)
        if re.search(rf"'{re.escape(short)}'", text) and re.search(rf"\b{group}\b", text):
            return moved(old)
    return None
