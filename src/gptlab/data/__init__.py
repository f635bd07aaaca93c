"""Tokenizer, corpora, token shards and LightningDataModules."""

from gptlab.data.datamodule import PydocDataModule, ShardDataModule, TokenDataModule
from gptlab.data.sampling import WindowDataset, WindowSampler
from gptlab.data.windows import num_windows

__all__ = [
    "PydocDataModule",
    "ShardDataModule",
    "TokenDataModule",
    "WindowDataset",
    "WindowSampler",
    "num_windows",
]
