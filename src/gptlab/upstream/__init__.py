"""Every use of a private Lightning, Hydra, torch, Liger-Kernel, W&B or lm-eval name, in one package.

Each adapter exists because no public hook does the job (its docstring says why). One module per
upstream: :mod:`.lightning`, :mod:`.hydra`, :mod:`.torch`, :mod:`.liger`, :mod:`.wandb`,
:mod:`.lm_eval`. Each checks, when it is used, that the name it relies on still exists (and takes
the arguments it passes), and otherwise fails with :class:`UpstreamChanged` naming it: an upgrade
that removed an internal shows up as one line, not as silent misbehaviour.
``tests/upstream/`` exercises every adapter against the installed versions, and
``tests/upstream/test_private_names.py`` checks that no code outside this package touches a
private name it does not define itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any


class UpstreamChanged(RuntimeError):
    """An internal of an upstream library that gptlab adapts to is gone or changed."""


def require(owner: Any, name: str, params: Sequence[str] | None = None) -> Any:
    """``owner.name``, checking that it exists (and that its first parameters are ``params``)."""
    where = getattr(owner, "__name__", type(owner).__name__)
    if not hasattr(owner, name):
        raise UpstreamChanged(
            f"{where}.{name} no longer exists in the installed version; gptlab.upstream adapts "
            "to it: pin the version gptlab supports (pyproject.toml) or update the adapter"
        )
    value = getattr(owner, name)
    if params is not None:
        found = list(inspect.signature(value).parameters)
        if found[: len(params)] != list(params):
            raise UpstreamChanged(
                f"{where}.{name} now takes {found}, gptlab.upstream expects {list(params)}"
            )
    return value
