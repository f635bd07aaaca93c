"""Training: ``python train.py`` / ``python -m gptlab train`` [group=option ...] [key=value ...]

Hydra composes ``conf/train.yaml``; this module builds the objects (model config, data, module,
trainer), fits, validates the final weights, optionally tests and samples, and reports the metric
a sweeper optimizes.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf

from gptlab.checkpoints.io import AtomicCheckpointIO
from gptlab.checkpoints.reader import check_resumable, resolve_checkpoint, set_aside_unreadable
from gptlab.commands import conf_dir
from gptlab.commands.cli import (
    MOVED_KEYS,
    one_line_config_errors,
    quiet_lightning_notices,
    user_errors,
)
from gptlab.commands.startup import stop_signals_exit_cleanly
from gptlab.commands.sweeps import score, write_result
from gptlab.data.tokenizer import VOCAB_SIZE, reads_gpt2_tokens
from gptlab.errors import ConfigError
from gptlab.model import ARCHITECTURE_KEYS, GPTConfig
from gptlab.model.generate import sample_text
from gptlab.optim.config import OptimConfig
from gptlab.runtime.devices import configure_matmul, resolve_precision
from gptlab.runtime.distributed import (
    gradient_accumulation,
    job_scope,
    process_count,
    resolve_strategy,
    use_job_command_for_ddp_ranks,
    weights_are_sharded,
)
from gptlab.runtime.preemption import stopped_by_signal
from gptlab.runtime.run_folder import attempt_folder, discard_failed_start
from gptlab.runtime.tracking import describe_run, finish_wandb, own_wandb_service
from gptlab.training.module import GPTModule
from gptlab.training.numerics import NonFiniteError

log = logging.getLogger("train")


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


def model_config(node: DictConfig) -> GPTConfig:
    """The ``model`` group as a GPTConfig; a run option left there names its new key."""
    for key in node:
        if key == "_target_" or key in ARCHITECTURE_KEYS:
            continue
        moved = MOVED_KEYS.get(f"model.{key}")
        if moved:
            raise ConfigError(f"model.{key} is now {moved}: set {moved}=... instead")
        raise ConfigError(f"model.{key} is not an architecture setting; known: {ARCHITECTURE_KEYS}")
    return instantiate(node)


def model_summary(config: GPTConfig, n_params: int) -> str:
    head = "tied" if config.tie_weights else "untied"
    return (
        f"GPT: {n_params:,} parameters ({head} head) | n_layers={config.n_layers} "
        f"n_heads={config.n_heads} emb_dim={config.emb_dim} hidden_dim={config.hidden_dim} "
        f"context_length={config.context_length} vocab_size={config.vocab_size} | "
        f"{config.pos_emb} positions, {config.norm}, {config.mlp} MLP"
    )


def check_run_settings(cfg: DictConfig) -> None:
    """Top-level and Trainer values that would otherwise fail deep inside with a traceback."""
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} must be an integer")
    interval = cfg.trainer.get("val_check_interval")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or interval <= 0
        or (isinstance(interval, float) and interval > 1)
    ):
        raise ConfigError(
            f"trainer.val_check_interval={interval!r} must be a number of steps >= 1, or a "
            "fraction of an epoch in (0, 1]"
        )
    check_device_count(str(cfg.trainer.get("accelerator", "auto")), cfg.trainer.get("devices", 1))


def check_device_count(accelerator: str, devices: Any) -> None:
    """No more processes than this machine has cores (CPU) or visible GPUs: asking for more hangs
    at start (64 CPU processes) or fails deep inside CUDA."""
    if accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available()):
        count, cores = process_count(devices, "cpu"), os.cpu_count() or 1
        if count > cores:
            raise ConfigError(
                f"trainer.devices={devices} would start {count} CPU processes on a machine with "
                f"{cores} cores; use trainer.devices={cores} or fewer"
            )
    elif accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        visible = torch.cuda.device_count()
        wanted = process_count(devices, accelerator)
        indices = list(devices) if isinstance(devices, (list, tuple, ListConfig)) else []
        if wanted > visible or any(int(i) >= visible for i in indices):
            shown = os.environ.get("CUDA_VISIBLE_DEVICES")
            where = f" (CUDA_VISIBLE_DEVICES={shown})" if shown is not None else ""
            raise ConfigError(
                f"trainer.devices={devices} asks for more GPUs than the {visible} visible on this "
                f"node{where}; use trainer.devices={visible} or fewer, or 'auto'"
            )


@dataclass
class Checked:
    """What :func:`preflight` validated and built: cheap objects, no weights, no data read yet."""

    architecture: GPTConfig
    optim: OptimConfig
    datamodule: L.LightningDataModule
    ckpt_path: str | None  # the checkpoint training resumes from (None: a fresh start)
    accumulation: int  # micro-batches per optimizer step on each process


def preflight(cfg: DictConfig) -> Checked:
    """Every check that can run before a run folder is written: the settings, the architecture,
    the optimizer, the checkpoint to resume (readable, same architecture and optimizer) and the
    data (there, fits the vocabulary). The train command runs it before Hydra writes its record
    (:class:`~gptlab.commands.hydra_callbacks.ExistingRunGuard`), and again when it builds."""
    check_run_settings(cfg)
    architecture = model_config(cfg.model)
    optim_config: OptimConfig = instantiate(cfg.optim)
    ckpt_path = None
    if cfg.get("train", True):
        ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), Path(cfg.paths.output_dir))
        if ckpt_path:
            check_resumable(ckpt_path, architecture, optim_config.name)
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    if hasattr(datamodule, "check"):
        datamodule.check()
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    devices, num_nodes = cfg.trainer.get("devices", 1), cfg.trainer.get("num_nodes", 1)
    accumulation = gradient_accumulation(
        getattr(datamodule, "global_batch_size", None),
        datamodule.batch_size,
        process_count(devices, accelerator) * num_nodes,
    )
    return Checked(architecture, optim_config, datamodule, ckpt_path, accumulation)


def checkpointing(cfg: DictConfig, callbacks: list[L.Callback]) -> bool:
    """Lightning's ``enable_checkpointing``: on only with a ``ModelCheckpoint`` among the callbacks
    (or when the trainer config sets it). Left on without one, Lightning adds its own, which
    writes a full checkpoint under the logger's folder at every validation: 1.4 GB for GPT-2 124M,
    seconds per validation (``last.ckpt`` comes from gptlab's ``LastCheckpoint`` either way)."""
    explicit = cfg.trainer.get("enable_checkpointing")
    if explicit is not None:
        return bool(explicit)
    return any(isinstance(callback, ModelCheckpoint) for callback in callbacks)


@dataclass
class Built:
    module: GPTModule
    datamodule: L.LightningDataModule
    trainer: L.Trainer
    ckpt_path: str | None  # the checkpoint training resumes from (None: a fresh start)


def build(cfg: DictConfig) -> Built:
    """Every object of a run: the small configs are validated first, before anything heavy."""
    checked = preflight(cfg)
    datamodule = checked.datamodule
    L.seed_everything(cfg.seed, workers=True, verbose=False)  # before the weights are drawn
    module: GPTModule = instantiate(cfg.module, model=checked.architecture, optim=checked.optim)
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    configure_matmul(accelerator)
    devices, num_nodes = cfg.trainer.get("devices", 1), cfg.trainer.get("num_nodes", 1)
    accumulation = checked.accumulation
    callbacks = instantiate_callbacks(cfg)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=resolve_precision(cfg.trainer.get("precision"), accelerator),
        strategy=resolve_strategy(cfg.trainer.get("strategy", "auto"), devices, num_nodes),
        callbacks=callbacks,
        enable_checkpointing=checkpointing(cfg, callbacks),
        logger=instantiate_group(cfg.get("logger")) or False,
        plugins=trainer_plugins(cfg.trainer.get("plugins")),
        **({"accumulate_grad_batches": accumulation} if accumulation > 1 else {}),
    )
    return Built(module, datamodule, trainer, checked.ckpt_path)


def train(cfg: DictConfig) -> dict[str, float]:
    """Run one training job; returns the final metrics (``val/loss`` and friends) as floats."""
    use_job_command_for_ddp_ranks()
    quiet_lightning_notices()
    with job_scope():
        try:
            metrics = _fit(cfg)
        except BaseException:
            finish_wandb(exit_code=1)  # W&B shows the run as failed
            raise
        finish_wandb(exit_code=0)  # a sweep's next job starts a run of its own
        return metrics


def _fit(cfg: DictConfig) -> dict[str, float]:
    built = build(cfg)  # validates first: errors come before any output
    module, datamodule, trainer = built.module, built.datamodule, built.trainer
    if cfg.get("print_config") and rank_zero_only.rank == 0:
        from gptlab.commands.config_tree import print_config

        print_config(cfg, attempt_folder(Path(cfg.paths.output_dir)) / "config_tree.log")
    n_parameters = module.model.num_parameters()
    rank_zero_only(log.info)(model_summary(module.model_config, n_parameters))
    if trainer.loggers:
        config = OmegaConf.to_container(cfg, resolve=True)
        describe_run(trainer.loggers, config, n_parameters, Path(cfg.paths.root_dir))

    if cfg.get("train", True):
        ckpt_path = built.ckpt_path
        if ckpt_path:
            set_aside_unreadable(ckpt_path)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        last = OmegaConf.select(cfg, "callbacks.last_checkpoint.dirpath")
        module.check_finished_cleanly(last)
        if stopped_by_signal(trainer):  # the job is about to be killed: no validation, test, sample
            return {k: float(v) for k, v in trainer.callback_metrics.items()}
        if module.last_validated_step != trainer.global_step:  # so the result is the final model's
            trainer.validate(module, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for callback in trainer.callbacks:  # results callbacks record outside Lightning's metrics
        metrics.update(getattr(callback, "results", None) or {})
    if cfg.get("test", False):
        trainer.test(module, datamodule=datamodule)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})

    sample = cfg.get("sample")
    if sample and sample.max_new_tokens > 0 and weights_are_sharded(trainer):
        rank_zero_only(log.info)(
            "no sample under FSDP: python -m gptlab generate ckpt_path=<run>/checkpoints/last.ckpt"
        )
    elif (
        sample
        and sample.max_new_tokens > 0
        and not reads_gpt2_tokens(module.model_config.vocab_size)
    ):
        rank_zero_only(log.info)(
            "no sample: model.vocab_size=%d < %d, the GPT-2 tokenizer's ids",
            module.model_config.vocab_size,
            VOCAB_SIZE,
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


def optimized_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The metric a sweeper optimizes (``optimized_metric``), or None when not set or not logged."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        log.warning("optimized_metric %r was not logged; logged: %s", name, sorted(metrics))
        return None
    return metrics[name]


def run_and_record(cfg: DictConfig, run_dir: Path, sweep: bool) -> float | None:
    """Train and write the run's ``result.json``: the metric, status, tokens, wall time.

    In a sweep a failing or non-finite job scores the worst value instead of ending the sweep. A
    single run that stops on a non-finite loss (``module.nonfinite=stop``) is recorded as failed
    before its error line; a bad command is not recorded, so an existing run folder it named
    stays as it was.
    """
    metric = cfg.get("optimized_metric")
    start = time.time()

    def record(
        status: str, value: float | None, metrics: dict | None = None, error: str | None = None
    ) -> None:
        if rank_zero_only.rank == 0:
            target = {
                k: v for k, v in (metrics or {}).items() if "target" in k or k == "training_s"
            }
            write_result(
                run_dir,
                status=status,
                metric=metric,
                value=value,
                tokens_seen=(metrics or {}).get("train/tokens"),
                wall_time_s=round(time.time() - start, 1),
                error=error,
                **target,
            )

    if sweep:
        try:
            metrics = train(cfg)
        except Exception as err:
            log.exception("job failed; scored as the worst value")
            record("failed", None, error=f"{type(err).__name__}: {err}")
            return score(None)
        value = optimized_value(cfg, metrics)
        ok = value is not None and score(value) == value
        record("ok" if ok else "not finite", value, metrics)
        return score(value) if metric else None

    try:
        metrics = train(cfg)
    except NonFiniteError as err:
        record("failed", None, error=f"{type(err).__name__}: {err}")
        raise
    value = optimized_value(cfg, metrics)
    record("ok", value, metrics)
    return value


@hydra.main(version_base="1.3", config_path=conf_dir(), config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return run_and_record(cfg, run_dir, sweep=True)
    with user_errors(cleanup=discard_failed_start):  # a start that failed leaves nothing behind
        return run_and_record(cfg, run_dir, sweep=False)


def main() -> None:
    with stop_signals_exit_cleanly():  # a stop signal before training: exit 0, nothing written
        own_wandb_service()
        one_line_config_errors()
        hydra_main()


if __name__ == "__main__":
    main()
