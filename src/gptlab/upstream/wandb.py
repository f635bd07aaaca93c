"""Lightning's WandbLogger internals: the arguments it hands to ``wandb.init``.

Lightning passes ``anonymous=None`` to ``wandb.init`` on every run, and W&B 0.2x warns that "the
anonymous setting has no effect" whenever the argument is given at all: a warning no gptlab setting
can avoid. The logger keeps those arguments in ``_wandb_init`` until its run starts.
"""

from __future__ import annotations

from typing import Any

from gptlab.upstream import require


def drop_unset_init_arguments(logger: Any) -> None:
    """Remove the ``wandb.init`` arguments Lightning sets to None and W&B warns about."""
    arguments = require(logger, "_wandb_init")
    if arguments.get("anonymous") is None:
        arguments.pop("anonymous", None)
