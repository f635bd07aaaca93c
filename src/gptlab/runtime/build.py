"""The objects of a run, from its checked spec: the module (with its initial weights), the
callbacks, the loggers and the Trainer. Nothing here reads data or writes a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.plugins.io import CheckpointIO
from omegaconf import DictConfig

from gptlab.checkpoints.io import AtomicCheckpointIO
from gptlab.checkpoints.last import LastCheckpoint
from gptlab.checkpoints.names import LAST
from gptlab.checkpoints.weights import load_weights_into
from gptlab.runtime.devices import configure_matmul
from gptlab.runtime.distributed import resolve_strategy
from gptlab.runtime.spec import RunSpec
from gptlab.training.module import GPTModule


@dataclass
class Built:
    module: GPTModule
    trainer: L.Trainer
    datamodule: L.LightningDataModule


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Objects of a group whose entries each have a ``_target_`` (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def instantiate_callbacks(cfg: DictConfig, checkpoints: str = "all") -> list[L.Callback]:
    """The configured callbacks, less the checkpoint writers ``checkpoints`` leaves out (``last``:
    no best checkpoint; ``none``: no checkpoint at all)."""
    callbacks = instantiate_group(cfg.get("callbacks"))
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it may not show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if checkpoints in ("last", "none"):
        callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
    if checkpoints == "none":
        callbacks = [c for c in callbacks if not isinstance(c, LastCheckpoint)]
    return callbacks


def trainer_plugins(configured: Any, spec: RunSpec) -> list[Any]:
    """The config's ``trainer.plugins`` plus atomic checkpoint writes (which also hand Lightning
    the resume checkpoint the spec read), unless the config brings its own IO."""
    plugins = list(instantiate(configured) or []) if configured else []
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        resume = spec.resume
        preloaded = (resume.path, resume.checkpoint) if resume is not None else None
        keep = (LAST,) if spec.checkpoints == "all" else ()  # previous.ckpt: the fallback
        plugins.append(AtomicCheckpointIO(keep_previous=keep, preloaded=preloaded))
    return plugins


def checkpointing(cfg: DictConfig, callbacks: list[L.Callback]) -> bool:
    """Lightning's ``enable_checkpointing``: on only with a ``ModelCheckpoint`` among the callbacks
    (or when the trainer config sets it). Left on without one, Lightning adds its own, which
    writes a full checkpoint under the logger's folder at every validation: 1.4 GB for GPT-2 124M,
    seconds per validation (``last.ckpt`` comes from gptlab's ``LastCheckpoint`` either way)."""
    explicit = cfg.trainer.get("enable_checkpointing")
    if explicit is not None:
        return bool(explicit)
    return any(isinstance(callback, ModelCheckpoint) for callback in callbacks)


def build(spec: RunSpec) -> Built:
    """Every object of the run. The weights are drawn after seeding, so a seed gives one model."""
    cfg = spec.config
    L.seed_everything(spec.seed, workers=True, verbose=False)
    module = GPTModule(
        spec.model,
        spec.optim,
        spec.kernels,
        nonfinite=spec.module.nonfinite,
        seed=spec.seed,
        peak_tflops=spec.module.peak_tflops,
        attn_window_start=spec.module.attn_window_start,
        attn_window_growth=spec.module.attn_window_growth,
    )
    if spec.initial_state is not None:
        load_weights_into(module.model, spec.initial_state, f"init_from={spec.init_from}")
        spec.initial_state = None  # the only copy besides the model's: freed
    configure_matmul(spec.devices.device_type)
    if hasattr(spec.datamodule, "schedule_steps"):  # a batch-size schedule spans the LR schedule
        spec.datamodule.schedule_steps = spec.optim.decay_steps
    callbacks = instantiate_callbacks(cfg, spec.checkpoints)
    accumulation = spec.accumulation
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        precision=spec.devices.precision,
        strategy=resolve_strategy(
            cfg.trainer.get("strategy", "auto"), spec.devices.devices, spec.devices.num_nodes
        ),
        callbacks=callbacks,
        enable_checkpointing=checkpointing(cfg, callbacks),
        logger=instantiate_group(cfg.get("logger")) or False,
        plugins=trainer_plugins(cfg.trainer.get("plugins"), spec),
        **({"accumulate_grad_batches": accumulation} if accumulation > 1 else {}),
    )
    return Built(module, trainer, spec.datamodule)
