"""FlexAttention for sliding-window models (``kernels.attention=flex``): the window as a block
mask, so blocks of keys wholly outside every query's window are skipped instead of computed and
masked, as the GPT-2 speedruns run their windows.

The model's own way (:func:`gptlab.model.attention.window_mask`) is PyTorch's attention with a
dense mask: the same function, but masked scores are still computed, and a mask keeps PyTorch off
its flash kernel. FlexAttention trains on CUDA GPUs only (it has no backward on CPUs); generation's
cached steps and prompts shorter than a block, whose queries are few, keep the dense mask.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
import torch.nn.functional as F

from gptlab.model.attention import window_mask

BLOCK = 128  # FlexAttention's default block of queries and keys


@cache
def _flex_attention() -> Any:
    from torch.nn.attention.flex_attention import flex_attention

    # compiled: uncompiled FlexAttention computes every score (inside a compiled step this inlines)
    return torch.compile(flex_attention, dynamic=False)


class FlexWindow:
    """What :meth:`gptlab.model.GPT.use_window_kernel` takes: the mask of a forward pass, and
    attention under it."""

    def mask(self, queries: int, start: int, window: torch.Tensor, device: torch.device) -> Any:
        # a cached generation step, or a short prompt: fewer queries than a block of 128 leave
        # nothing to skip (and each new length would compile FlexAttention again)
        if start or queries < BLOCK:
            return window_mask(queries, start, window, device)
        from torch.nn.attention.flex_attention import create_block_mask

        def in_window(batch: Any, head: Any, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            return (k <= q) & (q - k < window)  # window: a tensor, so no recompiling when it grows

        return create_block_mask(in_window, None, None, queries, queries, device=device)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Any,
               gqa: bool) -> torch.Tensor:  # fmt: skip
        if isinstance(mask, torch.Tensor):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return _flex_attention()(q, k, v, block_mask=mask, enable_gqa=gqa)
