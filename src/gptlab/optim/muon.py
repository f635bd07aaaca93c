"""Muon on the hidden matrices, AdamW on everything else, as one optimizer for Lightning.

Muon (Keller Jordan et al., the GPT-2 speedrun's largest single step) orthogonalises each 2-D
update with a few Newton-Schulz iterations; it is meant for the weight matrices inside the blocks.
Embeddings, the output head, norms and biases keep AdamW. :func:`split_by_role` decides which is
which, in one place, from the parameters' roles (the module that owns them), not their shapes.

Lightning drives one optimizer per step; :class:`MuonWithAdamW` holds ``torch.optim.Muon`` and
``torch.optim.AdamW`` and presents their parameter groups as its own, so the learning-rate
schedule scales both, checkpoints hold both states, and a resumed run restores both. It also warms
Muon's momentum up (0.85 -> 0.95 over the first steps, as the speedrun does), counted in its state.
Muon's update itself runs through :class:`~gptlab.optim.muon_step.BatchedMuon`: torch's
arithmetic, batched over same-shape matrices, skippable on the device, and compiled where the run
compiles (``compiled``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from gptlab.errors import ConfigError
from gptlab.optim.muon_step import BatchedMuon


def split_by_role(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """``muon``: the weights of linear layers inside the transformer blocks (attention and MLP);
    ``adamw_decay``: embeddings and the output head; ``adamw_no_decay``: norms and biases."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise ConfigError("optim=muon needs a GPT with transformer blocks (model.blocks)")
    hidden = {id(m.weight) for block in blocks for m in block.modules() if isinstance(m, nn.Linear)}
    groups: dict[str, dict[int, nn.Parameter]] = {
        "muon": {},
        "adamw_decay": {},
        "adamw_no_decay": {},
    }
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if id(param) in hidden:
                groups["muon"][id(param)] = param
            elif name == "weight" and isinstance(module, (nn.Linear, nn.Embedding)):
                groups["adamw_decay"][id(param)] = param
            else:
                groups["adamw_no_decay"][id(param)] = param
    seen = set(groups["muon"]) | set(groups["adamw_decay"])
    groups["adamw_no_decay"] = {i: p for i, p in groups["adamw_no_decay"].items() if i not in seen}
    return {name: list(params.values()) for name, params in groups.items()}


def describe_split(groups: dict[str, list[nn.Parameter]]) -> str:
    muon = groups["muon"]
    adamw = groups["adamw_decay"] + groups["adamw_no_decay"]
    return (
        f"optim=muon: Muon gets {len(muon)} tensors ({sum(p.numel() for p in muon):,} parameters: "
        f"the blocks' matrices), AdamW {len(adamw)} tensors ({sum(p.numel() for p in adamw):,} "
        "parameters: embeddings, head, norms, biases)"
    )


def momentum_at(step: int, start: float, end: float, warmup_steps: int) -> float:
    """Linear from ``start`` to ``end`` over ``warmup_steps`` optimizer steps, then ``end``."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return end
    return start + (end - start) * step / warmup_steps


class MuonWithAdamW(torch.optim.Optimizer):
    """One optimizer: ``torch.optim.Muon`` for ``muon_params``, ``torch.optim.AdamW`` for the
    AdamW groups. ``param_groups`` is Muon's groups then AdamW's (the same dicts), so a scheduler
    that scales every group's ``lr`` scales both."""

    def __init__(
        self,
        muon_params: list[nn.Parameter],
        adamw_groups: list[dict[str, Any]],
        muon: dict[str, Any],
        adamw: dict[str, Any],
        momentum_start: float = 0.85,
        momentum_warmup_steps: int = 300,
        variants: dict[str, Any] | None = None,
        compiled: bool = False,
    ) -> None:
        if not hasattr(torch.optim, "Muon"):
            raise ConfigError(
                f"optim=muon needs torch >= 2.9 (torch.optim.Muon); this is torch {torch.__version__}"
            )
        flat = [p for p in muon_params if p.dim() != 2]
        if flat:
            raise ConfigError(
                f"optim=muon got a {flat[0].dim()}-D hidden weight: FSDP flattens the matrices Muon "
                "orthogonalises; train with trainer=ddp (or one GPU), or use optim=adamw"
            )
        self.muon = torch.optim.Muon(muon_params, **muon)
        self.batched = BatchedMuon(self.muon, compiled)
        self.adamw = torch.optim.AdamW(adamw_groups, **adamw)
        all_params = [
            p for g in self.muon.param_groups + self.adamw.param_groups for p in g["params"]
        ]
        super().__init__(all_params, {})
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
        self.variants = dict(variants or {})  # Polar Express, NorMuon, cautious decay
        for group in self.muon.param_groups:
            group.setdefault("kind", "muon")
            group.update(self.variants)
        for group in self.adamw.param_groups:
            group.setdefault("kind", "adamw")
        self.momentum_end = muon.get("momentum", 0.95)
        self.momentum_start = momentum_start
        self.momentum_warmup_steps = momentum_warmup_steps
        self.steps_taken = 0
        self.skip_on_device: torch.Tensor | None = None  # set by skip_next_step, used once

    @property
    def adamw_fused(self) -> bool:
        return bool(self.adamw.defaults.get("fused"))

    def skip_next_step(self, skip: torch.Tensor) -> None:
        """Leave weights and both states untouched in the coming step when ``skip`` is true.
        With fused AdamW (GPUs) both sides decide on the device (:func:`muon_step` and fused
        AdamW's ``found_inf``): no host sync; the momentum warm-up still counts a skipped step.
        Otherwise the flag is read on the host, which costs nothing on a CPU."""
        if self.adamw_fused:
            self.skip_on_device = skip
            self.adamw.found_inf = skip.float()
        elif bool(skip.item()):
            self.zero_grad(set_to_none=True)  # optimizers skip parameters without a gradient
            self.skipping = True

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if getattr(self, "skipping", False):
            self.skipping = False
            return loss
        momentum = momentum_at(
            self.steps_taken, self.momentum_start, self.momentum_end, self.momentum_warmup_steps
        )
        for group in self.muon.param_groups:
            group["momentum"] = momentum
        skip, self.skip_on_device = self.skip_on_device, None
        self.batched.step(skip)  # torch.optim.Muon's update, batched by shape
        self.adamw.step()
        self.adamw.found_inf = None  # each step's flag is set anew by skip_next_step
        self.steps_taken += 1
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {
            "muon": self.muon.state_dict(),
            "adamw": self.adamw.state_dict(),
            "steps_taken": self.steps_taken,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        for group in self.muon.param_groups:  # this run's variants, not the saved groups'
            group.update(self.variants)
        self.adamw.load_state_dict(state_dict["adamw"])
        self.steps_taken = int(state_dict["steps_taken"])
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
