"""Which windows each rank reads, in which order: reproducible and resumable.

The sampler yields window *start positions* in the token stream; the dataset turns a start into
(inputs, targets). The order of an epoch depends only on (seed, epoch, rank, world size), so a run
restarted from a checkpoint can skip exactly the batches it already trained on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from gptlab.data.windows import num_windows
from gptlab.errors import ConfigError, GptlabError


class TokenSource(Protocol):
    def __len__(self) -> int: ...
    def read_into(self, start: int, out: np.ndarray) -> None: ...


class ArrayTokens:
    """An in-memory (or memory-mapped) 1-D token array with the ShardedTokens interface."""

    def __init__(self, tokens: np.ndarray) -> None:
        self.tokens = tokens

    def __len__(self) -> int:
        return len(self.tokens)

    def read_into(self, start: int, out: np.ndarray) -> None:
        out[:] = self.tokens[start : start + len(out)]


class WindowDataset(Dataset):
    """Item ``start`` is (tokens[start : start+T], tokens[start+1 : start+T+1]) as int64 tensors.

    ``__getitems__`` reads a whole batch into one array, so the DataLoader spends its time copying
    tokens rather than calling Python per window (use ``collate_batch`` as its collate_fn).
    """

    def __init__(self, source: TokenSource, context_length: int, vocab_size: int | None = None):
        self.source = source
        self.context_length = context_length
        self.vocab_size = vocab_size

    def __getitem__(self, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = self.__getitems__([start])
        return inputs[0], targets[0]

    def __getitems__(self, starts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        chunks = np.empty((len(starts), self.context_length + 1), dtype=np.int64)
        for row, start in zip(chunks, starts, strict=True):
            self.source.read_into(int(start), row)
        if self.vocab_size is not None and chunks.max() >= self.vocab_size:
            self._refuse(chunks, starts)
        batch = torch.from_numpy(chunks)
        # contiguous copies: pinned, non-blocking host-to-GPU copies need contiguous tensors
        return batch[:, :-1].contiguous(), batch[:, 1:].contiguous()

    def _refuse(self, chunks: np.ndarray, starts: list[int]) -> None:
        row = int(chunks.max(axis=1).argmax())
        where = getattr(self.source, "path_at", lambda _: "the token stream")(int(starts[row]))
        raise GptlabError(
            f"{where}: token id {int(chunks[row].max())} >= model.vocab_size={self.vocab_size}; "
            "the data was made with another tokenizer, or raise model.vocab_size"
        )


def collate_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch WindowDataset.__getitems__ already built."""
    return batch


SAMPLING_MODES = ("sequential", "random")


def check_sampling_mode(mode: str) -> None:
    if mode not in SAMPLING_MODES:
        raise ConfigError(f"data.sampling={mode!r} must be 'sequential' or 'random'")


class WindowSampler(Sampler[int]):
    """Start positions of the windows one rank reads in one epoch.

    mode ``sequential``: windows at 0, stride, 2*stride, ... (the sliding window of "LLMs from
    scratch"), in a seeded random order when ``shuffle``. mode ``random``: len // context_length
    windows at seeded random offsets (nanoGPT). Each epoch's list is split round-robin across ranks,
    cut to equal length, so ranks read disjoint windows and stay in step.
    """

    def __init__(
        self,
        num_tokens: int,
        context_length: int,
        stride: int | None = None,
        mode: str = "sequential",
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        check_sampling_mode(mode)
        self.num_tokens = num_tokens
        self.context_length = context_length
        self.stride = stride or context_length
        self.mode = mode
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip = 0  # windows of the current epoch already consumed (set when resuming)

    def epoch_starts(self, epoch: int) -> np.ndarray:
        """Start positions of every window of ``epoch`` for all ranks, in reading order."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.mode == "random":
            count = self.num_tokens // self.context_length
            return rng.integers(0, self.num_tokens - self.context_length, size=count)
        starts = np.arange(num_windows(self.num_tokens, self.context_length, self.stride), dtype=np.int64)
        starts *= self.stride
        return rng.permutation(starts) if self.shuffle else starts

    def rank_starts(self, epoch: int) -> np.ndarray:
        starts = self.epoch_starts(epoch)
        per_rank = len(starts) // self.world_size
        return starts[self.rank : per_rank * self.world_size : self.world_size]

    def set_epoch(self, epoch: int) -> None:
        """Lightning calls this at each epoch start with its own count of epochs. It is ignored:
        the sampler counts the epochs it has read itself. Lightning counts a new epoch when a run
        stopped by ``max_steps`` is resumed, although the data read so far ends mid-epoch."""

    def resume(self, epoch: int, windows_done: int) -> None:
        """Continue ``epoch`` after its first ``windows_done`` windows."""
        self.epoch = epoch
        self.skip = windows_done

    def epoch_length(self) -> int:
        """Windows per rank per epoch (without building the epoch's order)."""
        if self.mode == "random":
            count = self.num_tokens // self.context_length
        else:
            count = num_windows(self.num_tokens, self.context_length, self.stride)
        return count // self.world_size

    def __len__(self) -> int:
        return self.epoch_length() - self.skip

    def __iter__(self) -> Iterator[int]:
        starts = self.rank_starts(self.epoch)[self.skip :]
        self.epoch, self.skip = self.epoch + 1, 0  # the next pass is the next epoch, whole
        return iter(starts.tolist())
