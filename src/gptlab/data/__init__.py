"""Tokenizer, corpora and LightningDataModules."""

from gptlab.data.datamodule import PydocDataModule, TokenDataModule
from gptlab.data.windows import TokenWindows, num_windows

__all__ = ["PydocDataModule", "TokenDataModule", "TokenWindows", "num_windows"]
