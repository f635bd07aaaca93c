"""LightningDataModules that serve next-token windows of a token stream."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from gptlab.data.pydoc import pydoc_tokens
from gptlab.data.windows import TokenWindows
from gptlab.errors import ConfigError


class TokenDataModule(L.LightningDataModule):
    """Splits one token stream into train (first part) and validation (last part) windows.

    Subclasses say where the tokens come from by overriding ``load_tokens``.
    """

    name = "tokens"

    def __init__(
        self,
        context_length: int,
        batch_size: int = 8,
        stride: int | None = None,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        pin_memory: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size={batch_size} must be >= 1")
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction={val_fraction} must be between 0 and 1")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers={num_workers} must be >= 0")
        self.context_length = context_length
        self.batch_size = batch_size
        self.stride = stride or context_length
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.train_set: TokenWindows | None = None
        self.val_set: TokenWindows | None = None

    def load_tokens(self) -> np.ndarray:
        raise NotImplementedError

    def prepare_data(self) -> None:
        # runs once per node before setup(): build any cache so ranks do not race to write it
        self.load_tokens()

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        tokens = self.load_tokens()
        split = int(len(tokens) * (1.0 - self.val_fraction))
        self.train_set = TokenWindows(tokens[:split], self.context_length, self.stride)
        # validation windows never overlap, so each token is scored once
        self.val_set = TokenWindows(tokens[split:], self.context_length, self.context_length)
        for part, windows, n in (("train", self.train_set, split), ("val", self.val_set, len(tokens) - split)):
            if len(windows) == 0:
                raise ConfigError(
                    f"data.context_length={self.context_length} is too long for the {n} tokens of the "
                    f"{self.name} {part} split; lower model.context_length or use more data"
                )

    def _loader(self, windows: TokenWindows | None, shuffle: bool) -> DataLoader:
        assert windows is not None, "call setup() first"
        return DataLoader(
            windows,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,  # equal-sized train batches; validation keeps every window
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)


class PydocDataModule(TokenDataModule):
    """The embedded default: CPython's own documentation text, no download needed."""

    name = "pydoc"

    def __init__(self, cache_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cache_dir = Path(cache_dir)

    def load_tokens(self) -> np.ndarray:
        return pydoc_tokens(self.cache_dir)
