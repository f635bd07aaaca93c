"""The optimizer and its learning-rate schedule for a model, from an :class:`OptimConfig`."""

from __future__ import annotations

from functools import partial

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.optim.lr_scheduler import LambdaLR

from gptlab.optim.config import OptimConfig
from gptlab.optim.groups import parameter_groups
from gptlab.optim.schedule import schedule_factor


def build_optimizer(
    model: torch.nn.Module, cfg: OptimConfig, fused: bool, compiled: bool = False
) -> torch.optim.Optimizer:
    """``fused``: AdamW in one kernel for all parameters (GPUs, without fp16 loss scaling);
    ``compiled``: Muon's update through torch.compile (when the run compiles its loss)."""
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
        variants=muon_variants(cfg),
        compiled=compiled,
    )


def muon_variants(cfg: OptimConfig) -> dict[str, object]:
    """gptlab's settings in each Muon group, beside torch's (read by muon_step)."""
    from gptlab.optim.muon_step import POLAR_EXPRESS

    return {
        "ns_schedule": POLAR_EXPRESS if cfg.ns_coefficients == "polar_express" else None,
        "normuon_beta2": cfg.normuon_beta2 if cfg.normuon else None,
        "cautious_wd": cfg.cautious_weight_decay,
    }


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
