"""Optimizers and learning-rate schedules, built from the ``optim`` config group."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from gptlab.errors import ConfigError
from gptlab.training.schedule import SCHEDULES, schedule_factor


@dataclass
class OptimConfig:
    """AdamW with a warm-up and a decay (``schedule``), stepped once per optimizer step."""

    name: str = "adamw"
    lr: float = 6e-4
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    weight_decay: float = 0.1  # applied to matrices only (dim >= 2), never to biases or norms
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    warmup_steps: int = 100
    decay_steps: int | None = None  # None: decay over the Trainer's total optimizer steps
    schedule: str = "cosine"  # cosine, wsd (warm-up, stable, decay), linear or constant
    cooldown_frac: float = 0.2  # wsd: the last fraction of the steps decays linearly

    def __post_init__(self) -> None:
        if self.name != "adamw":
            raise ConfigError(f"optim.name={self.name!r} must be adamw")
        if not self.lr > 0:
            raise ConfigError(f"optim.lr={self.lr} must be > 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"optim.min_lr_ratio={self.min_lr_ratio} must be in [0, 1]")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay={self.weight_decay} must be >= 0")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"optim.{name}={getattr(self, name)} must be in [0, 1)")
        if self.warmup_steps < 0:
            raise ConfigError(f"optim.warmup_steps={self.warmup_steps} must be >= 0")
        if self.decay_steps is not None and self.decay_steps < 1:
            raise ConfigError(f"optim.decay_steps={self.decay_steps} must be >= 1 or null")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optim.schedule={self.schedule!r} must be one of {list(SCHEDULES)}")
        if not 0 < self.cooldown_frac <= 1:
            raise ConfigError(f"optim.cooldown_frac={self.cooldown_frac} must be in (0, 1]")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OptimConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"optim.{unknown[0]} is not an optimizer setting; known: {sorted(known)}"
            )
        return cls(**values)


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


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, fused: bool) -> torch.optim.Optimizer:
    """``fused``: one kernel for all parameters (GPUs, without fp16 loss scaling)."""
    return torch.optim.AdamW(
        parameter_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=fused,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> LambdaLR:
    """The schedule as a multiplier of each group's peak rate, stepped per optimizer step."""
    factor = partial(
        schedule_factor,
        cfg.schedule,
        warmup_steps=cfg.warmup_steps,
        total_steps=cfg.decay_steps or total_steps,
        min_lr_ratio=cfg.min_lr_ratio,
        cooldown_frac=cfg.cooldown_frac,
    )
    return LambdaLR(optimizer, factor)
