"""Window arithmetic shared by the samplers."""

from __future__ import annotations


def num_windows(num_tokens: int, context_length: int, stride: int) -> int:
    """How many (input, target) windows fit: each needs context_length + 1 tokens.

    Windows start at 0, stride, 2*stride, ... (the sliding window of "LLMs from scratch");
    stride == context_length gives non-overlapping windows, a smaller stride overlapping ones.
    """
    if num_tokens < context_length + 1:
        return 0
    return (num_tokens - context_length - 1) // stride + 1

