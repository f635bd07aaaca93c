"""Training from a composed Hydra config: instantiate, fit, optionally test, sample, report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from gptlab.checkpoint_io import AtomicCheckpointIO
from gptlab.checkpoints import check_checkpoint, resolve_checkpoint
from gptlab.distributed import (
    gradient_accumulation,
    job_scope,
    resolve_strategy,
    use_job_command_for_ddp_ranks,
    weights_are_sharded,
)
from gptlab.generate import sample_text
from gptlab.model import GPTConfig
from gptlab.module import GPTModule, OptimConfig
from gptlab.runtime import configure_matmul, resolve_precision
from gptlab.tracking import describe_run, finish_wandb

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Objects of a group whose entries each have a ``_target_`` (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def instantiate_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks = instantiate_group(cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it may not show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return callbacks


def trainer_plugins(configured: Any) -> list[Any]:
    """The config's ``trainer.plugins`` plus atomic checkpoint writes, unless it brings its own IO."""
    plugins = list(instantiate(configured) or []) if configured else []
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins


def model_summary(config: GPTConfig, n_params: int) -> str:
    head = "tied" if config.tie_weights else "untied"
    return (
        f"GPT: {n_params:,} parameters ({head} head) | n_layers={config.n_layers} "
        f"n_heads={config.n_heads} emb_dim={config.emb_dim} hidden_dim={config.hidden_dim} "
        f"context_length={config.context_length} vocab_size={config.vocab_size}"
    )


def build(cfg: DictConfig) -> tuple[GPTModule, L.LightningDataModule, L.Trainer]:
    """Every object of a run: the small configs are validated first, before anything heavy."""
    model_config: GPTConfig = instantiate(cfg.model)
    optim_config: OptimConfig = instantiate(cfg.optim)
    L.seed_everything(cfg.seed, workers=True)  # before the model's weights are drawn
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    module: GPTModule = instantiate(cfg.module, model=model_config, optim=optim_config)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    configure_matmul(accelerator)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.get("precision"), accelerator),
        strategy=resolve_strategy(
            cfg.trainer.get("strategy", "auto"),
            cfg.trainer.get("devices", 1),
            cfg.trainer.get("num_nodes", 1),
        ),
        callbacks=instantiate_callbacks(cfg),
        logger=instantiate_group(cfg.get("logger")) or False,
        plugins=trainer_plugins(cfg.trainer.get("plugins")),
    )
    global_batch = getattr(datamodule, "global_batch_size", None)
    if global_batch is not None:
        trainer.accumulate_grad_batches = gradient_accumulation(
            global_batch, datamodule.batch_size, trainer.world_size
        )
    return module, datamodule, trainer


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns the final metrics (``val/loss`` and friends) as floats."""
    use_job_command_for_ddp_ranks()
    with job_scope():
        try:
            metrics = _fit(cfg)
        except BaseException:
            finish_wandb(exit_code=1)  # W&B shows the run as failed
            raise
        finish_wandb(exit_code=0)  # a sweep's next job starts a run of its own
        return metrics


def _fit(cfg: DictConfig) -> dict[str, float]:
    if cfg.get("print_config") and rank_zero_only.rank == 0:
        from gptlab.config_tree import print_config

        print_config(cfg, Path(cfg.paths.output_dir) / "config_tree.log")
    module, datamodule, trainer = build(cfg)
    n_parameters = module.model.num_parameters()
    rank_zero_only(log.info)(model_summary(module.model_config, n_parameters))
    if trainer.loggers:
        config = OmegaConf.to_container(cfg, resolve=True)
        describe_run(trainer.loggers, config, n_parameters, Path(cfg.paths.root_dir))

    if cfg.get("train", True):
        ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), Path(cfg.paths.output_dir))
        if ckpt_path:
            check_checkpoint(ckpt_path, module.model_config)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        last = OmegaConf.select(cfg, "callbacks.last_checkpoint.dirpath")
        module.check_finished_cleanly(last)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if stopped_by_signal(trainer):
        return metrics  # the job is about to be killed: no test loop, no sample
    if cfg.get("test", False):
        trainer.test(module, datamodule=datamodule)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})

    sample = cfg.get("sample")
    if sample and sample.max_new_tokens > 0 and weights_are_sharded(trainer):
        rank_zero_only(log.info)(
            "no sample under FSDP: generate.py ckpt_path=<run>/checkpoints/last.ckpt"
        )
    elif sample and sample.max_new_tokens > 0 and trainer.is_global_zero:
        text = sample_text(
            module.model,
            sample.prompt,
            max_new_tokens=sample.max_new_tokens,
            temperature=sample.temperature,
            top_k=sample.top_k,
            seed=cfg.seed,
        )
        print(f"\nSample from the trained model:\n{text}\n", flush=True)
    return metrics


def stopped_by_signal(trainer: L.Trainer) -> bool:
    return any(getattr(c, "stopped_by_signal", False) for c in trainer.callbacks)


def optimized_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The metric a sweeper optimizes (``optimized_metric``), or None when not set or not logged."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %r was not logged; logged: %s", name, sorted(metrics))
        return None
    return metrics[name]
