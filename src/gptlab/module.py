"""The LightningModule: loss, optimizer groups, LR schedule, metrics and logging around GPT."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any

import lightning as L
import torch
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics import MeanMetric

from gptlab.errors import ConfigError
from gptlab.model import GPT, GPTConfig
from gptlab.schedule import warmup_cosine


@dataclass
class OptimConfig:
    """AdamW with linear warmup and cosine decay, stepped once per optimizer step."""

    lr: float = 6e-4
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    weight_decay: float = 0.1  # applied to matrices only (dim >= 2), never to biases or norms
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    warmup_steps: int = 100
    decay_steps: int | None = None  # None: decay over the Trainer's total optimizer steps

    def __post_init__(self) -> None:
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

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OptimConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {"_target_"})
        if unknown:
            raise ConfigError(
                f"optim.{unknown[0]} is not an optimizer setting; known: {sorted(known)}"
            )
        return cls(**{k: v for k, v in values.items() if k in known})


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on the weights of linear and embedding layers; none on biases and LayerNorms.

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


class GPTModule(L.LightningModule):
    """Trains a :class:`~gptlab.model.GPT` on next-token prediction.

    Takes plain values (or the two dataclasses) so checkpoints hold only plain hyperparameters
    and ``GPTModule.load_from_checkpoint`` works without Hydra.
    """

    def __init__(
        self,
        model: GPTConfig | dict[str, Any],
        optim: OptimConfig | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model_config = model if isinstance(model, GPTConfig) else GPTConfig.from_dict(model)
        self.optim_config = (
            optim if isinstance(optim, OptimConfig) else OptimConfig.from_dict(optim or {})
        )
        self.save_hyperparameters(
            {
                "model": self.model_config.to_dict(),
                "optim": asdict(self.optim_config),
            }
        )
        self.model = GPT(self.model_config)
        if self.model_config.init_from:
            from gptlab.hf import check_matches, load_hf, load_into

            source = self.model_config.init_from
            imported, state = load_hf(source)
            check_matches(self.model_config, imported, source)
            load_into(self.model, state, source)
        if self.model_config.compile:
            self.model.compile()  # in place: state_dict keys stay the same as without compile
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        inputs, targets = batch
        loss = self.model(inputs, targets)
        # tensors are logged as they are (no .item()): Lightning reads them at log intervals only
        self.log("train/loss", loss, on_step=True, on_epoch=False)
        self.log("lr", self.lr_schedulers().get_last_lr()[0], on_step=True, on_epoch=False)
        return loss

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], metric: MeanMetric) -> None:
        inputs, targets = batch
        loss = self.model(inputs, targets)
        metric.update(loss, weight=targets.numel())  # token-weighted mean over the whole split

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.val_loss)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._eval_step(batch, self.test_loss)

    def _log_eval(self, prefix: str, metric: MeanMetric) -> None:
        loss = metric.compute()  # torchmetrics reduces across ranks itself
        metric.reset()
        self.log(f"{prefix}/loss", loss, prog_bar=True)
        self.log(f"{prefix}/ppl", torch.exp(loss))

    def on_validation_epoch_end(self) -> None:
        self._log_eval("val", self.val_loss)

    def on_test_epoch_end(self) -> None:
        self._log_eval("test", self.test_loss)

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by global norm (``trainer.gradient_clip_val``) here rather than in Lightning's
        precision plugins: they refuse fused AdamW under bf16 autocast and norm clipping under FSDP."""
        if not gradient_clip_val:
            return
        if gradient_clip_algorithm not in (None, "norm"):
            return super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )
        root = self.trainer.strategy.model
        if hasattr(root, "clip_grad_norm_"):  # FSDP: the norm is taken over every shard
            root.clip_grad_norm_(gradient_clip_val)
        else:
            torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)

    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.optim_config
        # fused: one kernel for all parameters on GPUs. Not with fp16 loss scaling, where the
        # gradients must be unscaled before clipping and fused AdamW unscales only inside its step.
        fused = self.device.type == "cuda" and self.trainer.precision != "16-mixed"
        optimizer = torch.optim.AdamW(
            parameter_groups(self.model, cfg.weight_decay),
            lr=cfg.lr,
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.eps,
            fused=fused,
        )
        total = cfg.decay_steps or int(self.trainer.estimated_stepping_batches)
        schedule = partial(
            warmup_cosine,
            warmup_steps=cfg.warmup_steps,
            total_steps=total,
            min_lr_ratio=cfg.min_lr_ratio,
        )
        scheduler = LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
