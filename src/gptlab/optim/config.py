"""The ``optim`` config group: the optimizer, its hyperparameters and the learning-rate schedule."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from gptlab.errors import ConfigError, check_known_keys, check_types
from gptlab.optim.schedule import SCHEDULES

OPTIMIZERS = ("adamw", "muon")
ADJUST_LR_FNS = (None, "original", "match_rms_adamw")
NS_COEFFICIENTS = ("torch", "polar_express")


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
    # the speedrun's Muon variants (muon_step.muon_step)
    ns_coefficients: str = "torch"  # torch's fixed quintic, or polar_express (one per iteration)
    normuon: bool = False  # each row's update scaled by its running root mean square (NorMuon)
    normuon_beta2: float = 0.95
    cautious_weight_decay: bool = False  # Muon's decay only where the update has the weight's sign

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
        if self.ns_coefficients not in NS_COEFFICIENTS:
            raise ConfigError(
                f"optim.ns_coefficients={self.ns_coefficients!r} must be one of "
                f"{list(NS_COEFFICIENTS)}"
            )
        if not 0 <= self.normuon_beta2 < 1:
            raise ConfigError(f"optim.normuon_beta2={self.normuon_beta2} must be in [0, 1)")
        if not 0 < self.cooldown_frac <= 1:
            raise ConfigError(f"optim.cooldown_frac={self.cooldown_frac} must be in (0, 1]")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OptimConfig:
        check_known_keys(cls, values, "optim", "an optimizer setting")
        check_types(typing.get_type_hints(cls), values, "optim")
        return cls(**values)
