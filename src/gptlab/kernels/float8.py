"""FP8 matrix products in training, through torchao's float8 training (``kernels.float8``).

Opt-in: on GPT-2 124M the measured effect is in docs/benchmarks.md, and FP8 changes the numerics
(the validation loss after equal tokens must be compared before trusting it for a run). Every
``nn.Linear`` whose dimensions are multiples of 16 (what FP8 matrix products need) is swapped for
torchao's ``Float8Linear``; the output head qualifies when the vocabulary is padded
(``model.vocab_multiple=64``). Weights and state-dict keys stay as they are, so checkpoints load
with or without FP8. Needs a GPU with FP8 tensor cores (H100, H200, L40S, RTX 4090, ...) and
``pip install torchao``; torch.compile fuses the scaling and casting kernels.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from gptlab.errors import ConfigError


def fp8_capable(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


def check_device(recipe: str | None, device: torch.device) -> None:
    """An FP8 recipe needs FP8 tensor cores and torchao."""
    if recipe is None:
        return
    if not fp8_capable(device):
        raise ConfigError(
            f"kernels.float8={recipe} needs a GPU with FP8 tensor cores (H100, H200, L40S, ...), "
            f"not {device.type}; set kernels.float8=null"
        )
    if importlib.util.find_spec("torchao") is None:
        raise ConfigError(
            f"kernels.float8={recipe} needs torchao: pip install torchao (or set kernels.float8=null)"
        )


def convert_linears(model: nn.Module, recipe: str, device: torch.device) -> int:
    """Swap the eligible linear layers of ``model`` for FP8 ones; returns how many."""
    check_device(recipe, device)
    from torchao.float8 import Float8LinearConfig, convert_to_float8_training

    def eligible(module: nn.Module, name: str) -> bool:
        return (
            isinstance(module, nn.Linear)
            and module.in_features % 16 == 0
            and module.out_features % 16 == 0
        )

    before = sum(type(m) is nn.Linear for m in model.modules())
    convert_to_float8_training(
        model, module_filter_fn=eligible, config=Float8LinearConfig.from_recipe_name(recipe)
    )
    return before - sum(type(m) is nn.Linear for m in model.modules())
