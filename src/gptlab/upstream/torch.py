"""torch internals: Inductor's option names, the multi-tensor (foreach) kernels, and the key prefix
of a module compiled by wrapping."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gptlab.upstream import require


def inductor_options() -> set[str]:
    """The names ``torch.compile(options=...)`` accepts (``torch._inductor.list_options``): no
    public function lists them, and a misspelled one is otherwise only a warning deep inside."""
    from torch import _inductor

    return set(require(_inductor, "list_options")())


def foreach_copy_(targets: Sequence[torch.Tensor], sources: Sequence[torch.Tensor]) -> None:
    """``torch._foreach_copy_``: one kernel launch for many copies (what torch's own optimizers
    use; no public equivalent)."""
    require(torch, "_foreach_copy_")(targets, sources)


def foreach_mul_(tensors: Sequence[torch.Tensor], factor: float | torch.Tensor) -> None:
    require(torch, "_foreach_mul_")(tensors, factor)


def foreach_add_(
    tensors: Sequence[torch.Tensor], others: Sequence[torch.Tensor], alpha: float
) -> None:
    require(torch, "_foreach_add_")(tensors, others, alpha=alpha)


COMPILED_PREFIX = "_orig_mod."  # what torch.compile(module) puts before every state-dict key


def without_compile_prefix(key: str) -> str:
    """A state-dict key as the plain module names it (checkpoints of gptlab 0.1 wrapped the model)."""
    return key.replace(COMPILED_PREFIX, "")
