"""Liger-Kernel internals: its Triton cross-entropy kernel, launched directly.

Liger's public wrapper (``LigerCrossEntropyFunction``) reads the number of targets back to the host
(``.item()``: a host sync every step) and calls ``torch.equal`` in backward. gptlab knows that
number up front, so it launches the kernel itself; the kernel's signature is Liger's internal API,
which is why ``pyproject.toml`` pins the minor version (``liger-kernel>=0.8.5,<0.9``).
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import torch

from gptlab.upstream import UpstreamChanged, require

# the kernel's arguments this launch passes, in Liger 0.8's order
KERNEL_PARAMS = ["X_ptr", "X_stride", "Y_ptr", "Y_stride", "weight_ptr", "loss_ptr", "z_loss_ptr"]


@functools.cache
def available() -> bool:
    """Whether Liger-Kernel (and so Triton) can be imported."""
    return importlib.util.find_spec("liger_kernel") is not None


def _kernel() -> tuple[Any, int]:
    """Liger's kernel and its largest block, checked against the arguments launched below."""
    from liger_kernel.ops import cross_entropy

    kernel = require(cross_entropy, "liger_cross_entropy_kernel")
    names = list(getattr(kernel, "arg_names", KERNEL_PARAMS))  # a Triton JITFunction's parameters
    if names[: len(KERNEL_PARAMS)] != KERNEL_PARAMS:
        raise UpstreamChanged(
            f"liger_kernel's liger_cross_entropy_kernel now takes {names}, gptlab.upstream.liger "
            f"launches it with {KERNEL_PARAMS}: pip install 'liger-kernel>=0.8.5,<0.9'"
        )
    return kernel, int(require(cross_entropy, "MAX_FUSED_SIZE"))


def default_launch(vocab: int, element_size: int, major: int) -> dict[str, int]:
    """Liger's own launch setting: blocks up to its fused size, 8 warps for 16-bit inputs on
    Blackwell (compute capability 10+), else 32."""
    import triton

    _, max_fused = _kernel()
    warps = 8 if major >= 10 and element_size == 2 else 32
    return {"BLOCK_SIZE": min(max_fused, triton.next_power_of_2(vocab)), "num_warps": warps}


def cross_entropy_rows(
    logits: torch.Tensor,
    vocab: int,
    targets: torch.Tensor,
    total: int,
    launch: dict[str, int],
    softcap: float | None = None,
) -> torch.Tensor:
    """Sum over rows of cross-entropy / ``total``, in one launch that writes the gradient with
    respect to the (soft-capped) logits over ``logits[:, :vocab]`` in place."""
    kernel, _ = _kernel()
    rows = logits.shape[0]
    losses = torch.zeros(rows, dtype=torch.float32, device=logits.device)  # per row, / total
    kernel[(rows,)](
        X_ptr=logits,
        X_stride=logits.stride(0),
        Y_ptr=targets,
        Y_stride=targets.stride(0),
        weight_ptr=None,
        loss_ptr=losses,
        z_loss_ptr=None,
        loss_stride=losses.stride(0),
        token_accuracy_ptr=None,
        token_accuracy_stride=0,
        predicted_tokens_ptr=None,
        predicted_tokens_stride=0,
        n_cols=vocab,
        n_non_ignore=total,
        sum_non_ignore_weight=total,
        weight_sum=0.0,
        ignore_index=-100,
        lse_square_scale=0.0,
        label_smoothing=0.0,
        reduction="mean",
        softcap=softcap,
        RETURN_Z_LOSS=False,
        RETURN_TOKEN_ACCURACY=False,
        RETURN_PREDICTED_TOKENS=False,
        HAS_WEIGHT=False,
        HAS_SOFTCAPPING=softcap is not None,
        HAS_GRADIENTS=True,
        **launch,
    )
    return losses.sum()
