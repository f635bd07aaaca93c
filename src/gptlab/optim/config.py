"""Optimizers and learning-rate schedules, built from the ``optim`` config group."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.optim.lr_scheduler import LambdaLR

from gptlab.errors import ConfigError, check_known_keys
from gptlab.optim.schedule import SCHEDULES, schedule_factor

OPTIMIZERS = ("adamw", "muon")
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


@dataclass
class OptimConfig:
    """The optimizer (``name``) and its learning-rate schedule, stepped once per optimizer step.

    ``adamw``: AdamW on every parameter (weight decay on matrices only). ``muon``: Muon on the
    blocks' matrices at ``lr`` with ``weight_decay``, AdamW on embeddings, head, norms and biases
    at ``adamw_lr`` with ``adamw_weight_decay`` (see :mod:`gptlab.optim.muon`). The schedule
    scales every rate alike.
    """

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
    # Muon's side (name=muon)
    momentum: float = 0.95
    nesterov: bool = True
    ns_steps: int = 5
    adjust_lr_fn: str | None = "original"  # torch's: max(1, rows/cols)^0.5; or match_rms_adamw
    momentum_start: float = 0.85  # momentum warms up from here to `momentum` ...
    momentum_warmup_steps: int = 300  # ... over these optimizer steps
    adamw_lr: float = 6e-3  # the AdamW side under muon
    adamw_weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optim.name={self.name!r} must be one of {list(OPTIMIZERS)}")
        if self.adjust_lr_fn not in ADJUST_LR_FNS:
            raise ConfigError(
                f"optim.adjust_lr_fn={self.adjust_lr_fn!r} must be one of {list(ADJUST_LR_FNS)}"
            )
        for name in ("momentum", "momentum_start"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"optim.{name}={getattr(self, name)} must be in [0, 1)")
        if self.ns_steps < 1 or self.momentum_warmup_steps < 0:
            raise ConfigError("optim.ns_steps must be >= 1 and optim.momentum_warmup_steps >= 0")
        if not self.adamw_lr > 0 or self.adamw_weight_decay < 0:
            raise ConfigError(
                f"optim.adamw_lr={self.adamw_lr} must be > 0 and "
                f"optim.adamw_weight_decay={self.adamw_weight_decay} >= 0"
            )
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
        check_known_keys(cls, values, "optim", "an optimizer setting")
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
    """``fused``: AdamW in one kernel for all parameters (GPUs, without fp16 loss scaling)."""
    adamw = {"betas": (cfg.beta1, cfg.beta2), "eps": cfg.eps, "fused": fused}
    if cfg.name == "adamw":
        return torch.optim.AdamW(parameter_groups(model, cfg.weight_decay), lr=cfg.lr, **adamw)
    from gptlab.optim.muon import MuonWithAdamW, describe_split, split_by_role

    groups = split_by_role(model)
    rank_zero_info(describe_split(groups))
    return MuonWithAdamW(
        groups["muon"],
        [
            {"params": groups["adamw_decay"], "weight_decay": cfg.adamw_weight_decay},
            {"params": groups["adamw_no_decay"], "weight_decay": 0.0},
        ],
        muon={
            "lr": cfg.lr,
            "weight_decay": cfg.weight_decay,
            "momentum": cfg.momentum,
            "nesterov": cfg.nesterov,
            "ns_steps": cfg.ns_steps,
            "adjust_lr_fn": cfg.adjust_lr_fn,
        },
        adamw={"lr": cfg.adamw_lr, **adamw},
        momentum_start=cfg.momentum_start,
        momentum_warmup_steps=cfg.momentum_warmup_steps,
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
