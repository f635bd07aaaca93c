"""Fixed-length training windows over a flat array of token ids."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from gptlab.errors import ConfigError


def num_windows(num_tokens: int, context_length: int, stride: int) -> int:
    """How many (input, target) windows fit: each needs context_length + 1 tokens.

    Windows start at 0, stride, 2*stride, ... (the sliding window of "LLMs from scratch");
    stride == context_length gives non-overlapping windows, a smaller stride overlapping ones.
    """
    if num_tokens < context_length + 1:
        return 0
    return (num_tokens - context_length - 1) // stride + 1


class TokenWindows(Dataset):
    """Item i is (tokens[s : s+T], tokens[s+1 : s+T+1]) with s = i * stride, as int64 tensors."""

    def __init__(self, tokens: np.ndarray, context_length: int, stride: int | None = None) -> None:
        stride = context_length if stride is None else stride
        if context_length < 1:
            raise ConfigError(f"data.context_length={context_length} must be >= 1")
        if stride < 1:
            raise ConfigError(f"data.stride={stride} must be >= 1")
        self.tokens = tokens
        self.context_length = context_length
        self.stride = stride
        self._len = num_windows(len(tokens), context_length, stride)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self._len:
            raise IndexError(index)
        start = index * self.stride
        chunk = torch.from_numpy(self.tokens[start : start + self.context_length + 1].astype(np.int64))
        return chunk[:-1], chunk[1:]
