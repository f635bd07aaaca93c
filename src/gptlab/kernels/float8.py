"""FP8 matrix products in training, through torchao's float8 training (``kernels.float8``).

Opt-in: on GPT-2 124M the measured effect is in docs/benchmarks.md, and FP8 changes the numerics
(the validation loss after equal tokens must be compared before trusting it for a run). Every
``nn.Linear`` whose dimensions are multiples of 16 (what FP8 matrix products need) is swapped for
torchao's ``Float8Linear``, or the output head alone (``kernels.float8_layers=head``, as the GPT-2
speedruns run it); the head qualifies when the vocabulary is padded (``model.vocab_multiple=64``)
and the loss runs through it (not Liger's kernel or the fused loss, which take its weight). Weights and state-dict keys stay as they are, so checkpoints load
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


LAYERS = ("all", "head")  # kernels.float8_layers: every eligible linear layer, or the head alone
HEAD = "lm_head"


def check_loss_path(layers: str, head_in_loss_kernel: bool) -> None:
    """The head alone in FP8 needs the loss to run through the head's module: Liger's kernel and
    the fused loss multiply by its weight themselves, which would leave nothing in FP8."""
    if layers == "head" and head_in_loss_kernel:
        raise ConfigError(
            "kernels.float8_layers=head: this run's loss (Liger's kernel or kernels.fused_loss) "
            "multiplies by the head's weight itself, so the head would not run in FP8; set "
            "kernels.loss=compiled and kernels.fused_loss=false, or kernels.float8_layers=all"
        )


def eligible(module: nn.Module, name: str, layers: str, head_in_loss_kernel: bool) -> bool:
    """Whether the linear layer ``name`` becomes FP8: dimensions multiples of 16 (what FP8 matrix
    products need), the head only when ``layers`` is ``head``, and not a head whose product the
    loss kernel computes itself (it would count as FP8 and run in bf16)."""
    if not (isinstance(module, nn.Linear) and module.in_features % 16 == 0
            and module.out_features % 16 == 0):  # fmt: skip
        return False
    if name == HEAD:
        return not head_in_loss_kernel
    return layers == "all"


def convert_linears(model: nn.Module, recipe: str, device: torch.device, layers: str = "all",
                    head_in_loss_kernel: bool = False) -> int:  # fmt: skip
    """Swap the eligible linear layers of ``model`` for FP8 ones; returns how many."""
    check_device(recipe, device)
    check_loss_path(layers, head_in_loss_kernel)
    from torchao.float8 import Float8LinearConfig, convert_to_float8_training

    before = sum(type(m) is nn.Linear for m in model.modules())
    convert_to_float8_training(
        model,
        module_filter_fn=lambda m, name: eligible(m, name, layers, head_in_loss_kernel),
        config=Float8LinearConfig.from_recipe_name(recipe),
    )
    return before - sum(type(m) is nn.Linear for m in model.modules())
