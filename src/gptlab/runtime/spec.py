"""A training run, specified and checked once: the composed config becomes one :class:`RunSpec`.

:func:`build_spec` runs every check that can run before anything is written (the settings, the
architecture, optimizer, kernels and module settings, the devices and precision, the data, the
checkpoint to resume and the initial weights) and reports every problem it finds at once. It
reads the resume checkpoint once (the spec holds it; Lightning gets those very contents), checks
the data module once and writes nothing. Everything after it (the run folder, the objects, fit)
takes the spec, so no check runs twice.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gptlab.checkpoints.resume import Resume, check_resumable, find_resume
from gptlab.checkpoints.weights import initial_weights
from gptlab.data.batch_schedule import check_steps
from gptlab.errors import ConfigError, Problems, did_you_mean
from gptlab.kernels import KernelConfig, float8
from gptlab.kernels import attention as attention_kernels
from gptlab.model import ARCHITECTURE_KEYS, GPTConfig
from gptlab.optim.config import OptimConfig
from gptlab.runtime.devices import Devices, resolve_devices
from gptlab.runtime.distributed import gradient_accumulation
from gptlab.runtime.moved import moved
from gptlab.runtime.run_folder import check_writable
from gptlab.training import window as window_schedule
from gptlab.training.numerics import check_policy

log = logging.getLogger("train")


@dataclass(frozen=True)
class ModuleSettings:
    """``module:``: what the training module does beyond the model, optimizer and kernels."""

    nonfinite: str = "skip"
    peak_tflops: float | None = None
    attn_window_start: int | None = None  # grow model.attn_window from this (training.window)
    attn_window_growth: float = 1.0  # over this fraction of the run's steps

    def validate(self) -> None:
        check_policy(self.nonfinite)
        window_schedule.check_settings(self.attn_window_start, self.attn_window_growth)
        peak = self.peak_tflops
        if peak is not None and (isinstance(peak, bool) or not isinstance(peak, (int, float))
                                 or not peak > 0):  # fmt: skip
            raise ConfigError(f"module.peak_tflops={peak!r} must be a number > 0 or null")


@dataclass
class RunSpec:
    """Everything a training run is, checked. ``config`` is the composed config, for what is built
    from it as configured (the Trainer, callbacks, loggers) and for the record of the run."""

    config: DictConfig
    run_dir: Path
    seed: int
    model: GPTConfig
    optim: OptimConfig
    kernels: KernelConfig
    module: ModuleSettings
    devices: Devices
    datamodule: L.LightningDataModule  # instantiated and checked; no data read beyond that
    accumulation: int  # micro-batches per optimizer step on each process
    max_steps: int
    checkpoints: str = "all"  # what the run keeps: all (best and last), last, none
    train: bool = True
    resume: Resume | None = None  # the checkpoint training continues from
    init_from: str | None = None
    initial_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)  # said once the run starts

    @property
    def nothing_to_train(self) -> bool:
        """A resume whose checkpoint already holds ``max_steps`` steps (a finished run)."""
        return bool(self.train and self.resume and 0 < self.max_steps <= self.resume.step)


CHECKPOINTS = ("auto", "all", "last", "none")


def build_spec(cfg: DictConfig, sweep: bool = False) -> RunSpec:
    """The checked spec of the run ``cfg`` describes (``sweep``: a job of a multirun); raises
    every user error at once."""
    problems = Problems()
    run_dir = Path(cfg.paths.output_dir)
    train = bool(cfg.get("train", True))
    model = optim = kernels = module = devices = datamodule = None
    seed = cfg.get("seed")
    with problems.check():
        check_settings(cfg, run_dir)
    with problems.check():
        model = architecture(cfg.model)
    with problems.check():
        optim = OptimConfig.from_dict(plain(cfg.optim))
    with problems.check():
        kernels = KernelConfig.from_dict(plain(cfg.get("kernels") or {}))
    with problems.check():
        module = module_settings(plain(cfg.get("module") or {}))
    if model is not None and module is not None:
        with problems.check():
            window_schedule.check_schedule(
                module.attn_window_start, module.attn_window_growth, model.attn_window
            )
    with problems.check():
        devices = resolve_devices(cfg.trainer)
    if kernels is not None and devices is not None:
        with problems.check():
            check_kernels_on(kernels, devices, model)
    resume = None
    if train and model is not None and optim is not None:
        with problems.check():
            resume = find_resume(cfg.get("ckpt_path"), run_dir)
            if resume is not None:
                check_resumable(resume, model, optim.name)
    initial_state, init_from = None, cfg.get("init_from")
    if init_from and model is not None:
        with problems.check():
            initial_state = initial_weights(str(init_from), model)
    if isinstance(seed, int):  # data.seed is ${seed}: a bad seed is reported once, above
        with problems.check():
            datamodule = instantiate(cfg.data)
            datamodule.check()
    accumulation = 1
    if datamodule is not None and devices is not None:
        with problems.check():
            accumulation = gradient_accumulation(
                getattr(datamodule, "global_batch_size", None),
                datamodule.batch_size,
                devices.world_size,
            )
    checkpoints = str(cfg.get("checkpoints", "auto"))
    if checkpoints not in CHECKPOINTS:
        problems.found.append(
            ConfigError(f"checkpoints={checkpoints!r} must be one of {list(CHECKPOINTS)}")
        )
    elif checkpoints == "auto":  # a sweep's many jobs keep only what a resume needs
        checkpoints = "last" if sweep else "all"
    max_steps = cfg.trainer.get("max_steps", -1)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        max_steps = -1  # refused by check_settings
    if train and datamodule is not None:
        with problems.check():
            steps = (optim.decay_steps if optim is not None else None) or max_steps
            check_steps(getattr(datamodule, "batch_size_schedule", None), steps)
    if train and resume is None and max_steps == 0:
        problems.found.append(
            ConfigError("trainer.max_steps=0 trains nothing: give the optimizer steps to train")
        )
    problems.raise_any()
    spec = RunSpec(
        config=cfg,
        run_dir=run_dir,
        seed=seed,
        model=model,
        optim=optim,
        kernels=kernels,
        module=module,
        devices=devices,
        datamodule=datamodule,
        accumulation=accumulation,
        max_steps=max_steps,
        checkpoints=checkpoints,
        train=train,
        resume=resume,
        init_from=str(init_from) if init_from else None,
        initial_state=initial_state,
    )
    spec.warnings += schedule_warnings(spec)
    return spec


def plain(node: Any) -> dict[str, Any]:
    """A config group as a plain dict, without Hydra's ``_target_``."""
    values = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return {k: v for k, v in dict(values or {}).items() if k != "_target_"}


def architecture(node: Any) -> GPTConfig:
    """The ``model`` group as a GPTConfig; a run option left there names its new key."""
    values = plain(node)
    for key in values:
        if key not in ARCHITECTURE_KEYS:
            hint = did_you_mean(key, ARCHITECTURE_KEYS, "model")
            raise moved(f"model.{key}") or ConfigError(
                f"model.{key} is not an architecture setting{hint}"
            )
    return GPTConfig.from_dict(values)


def module_settings(values: Mapping[str, Any]) -> ModuleSettings:
    known = ModuleSettings.__dataclass_fields__
    for key in values:
        if key not in known:
            hint = did_you_mean(key, known, "module")
            raise moved(f"module.{key}") or ConfigError(
                f"module.{key} is not a module setting{hint}"
            )
    settings = ModuleSettings(**values)
    settings.validate()
    return settings


def check_kernels_on(kernels: KernelConfig, devices: Devices, model: GPTConfig | None) -> None:
    """The kernel choices that depend on the device (and on the model's dropout)."""
    device = torch.device(devices.device_type)
    if model is not None:
        attention_kernels.check_model(kernels.attention, model.drop_rate, model.attn_window)
    if devices.device_type == "cpu" and kernels.loss == "liger":
        raise ConfigError(
            "kernels.loss=liger runs on CUDA GPUs and this run is on cpu; set kernels.loss=auto"
        )
    float8.check_device(kernels.float8, device)
    if devices.device_type != "cuda":
        attention_kernels.check_device(kernels.attention, device)


def check_settings(cfg: DictConfig, run_dir: Path) -> None:
    """Top-level and Trainer values that would otherwise fail deep inside with a traceback."""
    problems = Problems()
    with problems.check():
        seed = cfg.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"seed={seed!r} must be an integer")
    with problems.check():
        if "run_name" in cfg and not str(cfg.run_name or "").strip():
            raise ConfigError(
                "run_name is empty: give the run a folder name (run_name=exp1), or leave it out "
                "for a time-stamped folder"
            )
    trainer = cfg.trainer
    with problems.check():
        interval = trainer.get("val_check_interval")
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
    with problems.check():
        steps = trainer.get("max_steps", -1)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < -1:
            raise ConfigError(
                f"trainer.max_steps={steps!r} must be a number of optimizer steps >= 1 "
                "(or -1: stop by trainer.max_epochs)"
            )
    with problems.check():
        accumulate = trainer.get("accumulate_grad_batches", 1)
        if isinstance(accumulate, bool) or not isinstance(accumulate, int) or accumulate < 1:
            raise ConfigError(
                f"trainer.accumulate_grad_batches={accumulate!r} must be an integer >= 1 (or set "
                "data.global_batch_size)"
            )
    with problems.check():
        check_writable(run_dir)
    problems.raise_any()


def schedule_warnings(spec: RunSpec) -> list[str]:
    """Settings that work but are seldom meant: a warm-up longer than the run."""
    steps = spec.optim.decay_steps or spec.max_steps
    warmup = spec.optim.warmup_steps
    if spec.train and steps > 0 and warmup > steps:
        reached = (steps / warmup) if warmup else 1.0
        return [
            f"optim.warmup_steps={warmup} is longer than the run's {steps} steps: the learning "
            f"rate never reaches optim.lr={spec.optim.lr:g} (it ends at {reached:.1%} of it)"
        ]
    return []


def finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
