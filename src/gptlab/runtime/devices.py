"""Where a run trains and in what precision: read from ``trainer.*`` once, checked, resolved."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from gptlab.errors import ConfigError
from gptlab.runtime.distributed import process_count

# precisions that train on a CPU: no float16 there (no loss scaling on CPUs, and AdamW's eps of
# 1e-8 is 0 in float16, so every update of a parameter with a zero gradient is 0/0 = NaN)
CPU_PRECISIONS = ("32-true", "32", 32, "64-true", "64", 64, "bf16-mixed", "bf16-true", "bf16")


@dataclass(frozen=True)
class Devices:
    accelerator: str  # trainer.accelerator as given: auto, cpu, gpu, cuda, ...
    device_type: str  # where the run trains: "cuda" or "cpu"
    devices: Any  # trainer.devices as given (a count, "auto" or a list of indices)
    processes: int  # processes per node
    num_nodes: int
    precision: str | int  # resolved: never "auto"

    @property
    def world_size(self) -> int:
        return self.processes * self.num_nodes


def cuda_in_use(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(precision: str | int | None, accelerator: str) -> str | int:
    """``auto`` -> bf16-mixed on GPUs that support it, 16-mixed on older GPUs, 32-true on CPU."""
    if precision not in (None, "auto"):
        return precision
    if not cuda_in_use(accelerator) or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def configure_matmul(device_type: str) -> None:
    """TF32 for float32 matrix products on Ampere and newer: much faster, precise enough."""
    if device_type == "cuda":
        torch.set_float32_matmul_precision("high")


def resolve_devices(trainer: Mapping[str, Any]) -> Devices:
    """``trainer.accelerator``, ``devices``, ``num_nodes`` and ``precision``, checked against this
    machine: no more processes than cores or visible GPUs, a precision the device trains in."""
    accelerator = str(trainer.get("accelerator", "auto"))
    devices = trainer.get("devices", 1)
    num_nodes = trainer.get("num_nodes", 1)
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise ConfigError(f"trainer.num_nodes={num_nodes!r} must be a positive integer")
    device_type = "cuda" if cuda_in_use(accelerator) else "cpu"
    check_device_count(accelerator, devices)
    precision = resolve_precision(trainer.get("precision"), accelerator)
    if device_type == "cpu" and precision not in CPU_PRECISIONS and "16" in str(precision):
        raise ConfigError(
            f"trainer.precision={precision} does not train on a CPU (no float16 loss scaling, "
            "and AdamW's updates become NaN in float16); use trainer.precision=32-true or "
            "bf16-mixed, or train on a GPU"
        )
    processes = process_count(devices, "cpu" if device_type == "cpu" else accelerator)
    return Devices(accelerator, device_type, devices, processes, num_nodes, precision)


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
        indices = list(devices) if isinstance(devices, (list, tuple)) or _listlike(devices) else []
        if wanted > visible or any(int(i) >= visible for i in indices):
            shown = os.environ.get("CUDA_VISIBLE_DEVICES")
            where = f" (CUDA_VISIBLE_DEVICES={shown})" if shown is not None else ""
            raise ConfigError(
                f"trainer.devices={devices} asks for more GPUs than the {visible} visible on this "
                f"node{where}; use trainer.devices={visible} or fewer, or 'auto'"
            )


def _listlike(value: Any) -> bool:
    return hasattr(value, "__iter__") and not isinstance(value, (str, bytes, Mapping))
