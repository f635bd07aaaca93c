"""gptlab: GPT pretraining experiments with Lightning and Hydra."""

from gptlab.model import GPT, GPTConfig

__version__ = "0.2.0"
__all__ = ["GPT", "GPTConfig", "__version__"]
