"""The GPT as plain PyTorch: its architecture config, the network, generation."""

from gptlab.model.config import ARCHITECTURE_KEYS, GPTConfig
from gptlab.model.gpt import GPT, Block, KVCache

__all__ = ["ARCHITECTURE_KEYS", "GPT", "Block", "GPTConfig", "KVCache"]
