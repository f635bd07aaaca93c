"""Which parameters get weight decay: matrices of linear and embedding layers, not biases or norms."""

from __future__ import annotations

from typing import Any

import torch


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on the weights of linear and embedding layers; none on biases and norms.

    Decided by layer type, not by tensor shape, because FSDP flattens sharded parameters to 1-D.
    """
    decay: dict[int, torch.nn.Parameter] = {}
    no_decay: dict[int, torch.nn.Parameter] = {}
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            matrix = name == "weight" and isinstance(module, (torch.nn.Linear, torch.nn.Embedding))
            (decay if matrix else no_decay)[id(param)] = param  # by id: the tied matrix once
    return [
        {"params": list(decay.values()), "weight_decay": weight_decay},
        {"params": [p for i, p in no_decay.items() if i not in decay], "weight_decay": 0.0},
    ]
