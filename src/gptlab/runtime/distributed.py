"""Several processes per run: DDP under Hydra (single runs and sweeps), FSDP, and the global batch."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from gptlab.errors import ConfigError
from gptlab.upstream.lightning import ddp_strategy, use_subprocess_command  # noqa: F401 - ddp_strategy: trainer=ddp


def gradient_accumulation(
    global_batch_size: int | None, micro_batch_size: int, world_size: int
) -> int:
    """Micro-batches per optimizer step so each step sees ``global_batch_size`` sequences.

    The global batch stays fixed whatever the number of devices and nodes: adding GPUs shortens
    accumulation instead of changing the optimisation.
    """
    if global_batch_size is None:
        return 1
    per_step = micro_batch_size * world_size
    if global_batch_size < 1 or global_batch_size % per_step:
        raise ConfigError(
            f"data.global_batch_size={global_batch_size} is not a multiple of data.batch_size="
            f"{micro_batch_size} x {world_size} device(s) = {per_step}; pick a global batch divisible "
            f"by {per_step} or change data.batch_size"
        )
    return global_batch_size // per_step


def job_subprocess_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command Lightning runs for DDP ranks > 0, started from a Hydra job (run or sweep).

    Lightning's own version repeats ``sys.argv``: inside a multirun that
    holds ``-m a=1,2``, so every child starts a sweep of its own (Lightning issue 11300). Here the
    child gets the job's own overrides and the job's output folder, in RUN mode.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from hydra.utils import get_original_cwd, to_absolute_path

    import __main__

    hydra_cfg = HydraConfig.get()
    if __main__.__spec__ is None:
        command = [sys.executable, to_absolute_path(sys.argv[0])]
    else:
        command = [sys.executable, "-m", __main__.__spec__.name]
    if hydra_cfg.runtime.config_sources:  # keep --config-dir / --config-name choices
        for source in hydra_cfg.runtime.config_sources:
            if source.provider == "command-line":
                command.append(f"--config-dir={source.path}")
    command.append(f"--config-name={hydra_cfg.job.config_name}")
    overrides = [o for o in hydra_cfg.overrides.task if o != "checkpoints=auto"]
    command += overrides
    if hydra_cfg.mode == RunMode.MULTIRUN and not any(
        o.startswith("checkpoints=") for o in overrides
    ):
        command.append(
            "checkpoints=last"
        )  # what a sweep's job keeps: every rank the same callbacks
    command += [
        f'hydra.run.dir="{hydra_cfg.runtime.output_dir}"',
        f"hydra.job.name={hydra_cfg.job.name}_rank{local_rank}",
        "hydra.output_subdir=null",  # rank 0 already saved the composed config
    ]
    return command, get_original_cwd()


def use_job_command_for_ddp_ranks() -> None:
    """Make Lightning start DDP ranks > 0 with :func:`job_subprocess_command` (see its docstring)."""
    use_subprocess_command(job_subprocess_command)


# what Lightning's launcher writes into os.environ when it starts the other ranks of a job
_LAUNCHER_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextlib.contextmanager
def job_scope() -> Iterator[None]:
    """Leave no distributed state behind a job, so the next job of a sweep starts its own ranks.

    Lightning marks a launched job by setting LOCAL_RANK and friends in this process and keeps its
    process group; the next job would then think an outside launcher made its ranks and talk to
    the previous job's finished processes.
    """
    saved = {key: os.environ.get(key) for key in _LAUNCHER_ENV}
    try:
        yield
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def process_count(devices: Any, accelerator: str = "auto") -> int:
    """Processes per node that ``trainer.devices`` asks for (``auto``/-1: every visible GPU)."""
    if isinstance(devices, str) and devices.lstrip("-").isdigit():
        devices = int(devices)
    if devices in ("auto", -1):
        import torch

        if accelerator == "cpu" or not torch.cuda.is_available():
            return 1
        return torch.cuda.device_count()
    if isinstance(devices, int):
        return devices
    return len(devices)  # a list of device indices


def resolve_strategy(strategy: Any, devices: Any, num_nodes: int) -> Any:
    """``auto`` with more than one process -> :func:`ddp_strategy`; anything else unchanged."""
    if strategy != "auto":
        return strategy
    count = process_count(devices)
    return ddp_strategy() if count > 1 or num_nodes > 1 else strategy


def fsdp_strategy(
    sharding_strategy: str = "FULL_SHARD",
    activation_checkpointing: bool = False,
    state_dict_type: str = "full",
    **kwargs,
):
    """Lightning's FSDPStrategy sharding each transformer block (mixed precision comes from
    ``trainer.precision``); a full state dict is gathered on save so checkpoints load anywhere."""
    from lightning.pytorch.strategies import FSDPStrategy

    from gptlab.model import Block

    return FSDPStrategy(
        auto_wrap_policy={Block},
        activation_checkpointing_policy={Block} if activation_checkpointing else None,
        sharding_strategy=sharding_strategy,
        state_dict_type=state_dict_type,
        **kwargs,
    )
