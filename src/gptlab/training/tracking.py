"""Experiment tracking: a W&B run a researcher can read, online or offline without being asked.

- online when this machine has W&B credentials (WANDB_API_KEY or ``wandb login``), else offline,
  saying once where the run is and the ``wandb sync`` command that uploads it; WANDB_MODE wins;
- name, group and tags from the config and Hydra: a sweep's jobs share a group named after the
  sweep folder, each job is named by its overrides;
- the run id is kept in the run folder, so a resumed run (``ckpt_path=last``) continues the same
  W&B run; every run is finished, with exit code 1 when it failed.
"""

from __future__ import annotations

import logging
import netrc
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)
ID_FILE = "wandb_id.txt"


def wandb_logged_in() -> bool:
    """Whether W&B credentials exist here (no network access)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _hydra_name_and_group() -> tuple[str | None, str | None]:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get()
    except (ImportError, ValueError):
        return None, None
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return Path(hydra_cfg.runtime.output_dir).name, None
    swept = _swept_keys(hydra_cfg)
    overrides = [o for o in hydra_cfg.overrides.task if o.split("=", 1)[0] in swept] or list(
        hydra_cfg.overrides.task
    )
    return " ".join(overrides) or hydra_cfg.job.num, Path(hydra_cfg.sweep.dir).name


def _swept_keys(hydra_cfg: Any) -> set[str]:
    """Keys a sweep varies: searched by the sweeper, or given several values on the command line."""
    import sys

    keys = set((hydra_cfg.sweeper.get("params") or {}).keys())
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if "," in value or value.startswith(("choice(", "range(", "interval(", "glob(")):
            keys.add(key.lstrip("+~"))
    return keys


def run_id(save_dir: Path) -> str:
    """The W&B run id of this run folder: read back when resuming, else made and stored."""
    path = save_dir / ID_FILE
    if path.is_file():
        return path.read_text().strip()
    new_id = secrets.token_hex(4)  # W&B ids: short, lowercase letters and digits
    if rank_zero_only.rank == 0:
        save_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(new_id)
    return new_id


def wandb_logger(
    save_dir: str,
    project: str = "gptlab",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    log_model: bool | str = False,
    mode: str | None = None,
):
    """Lightning's WandbLogger, set up as the module docstring says."""
    from lightning.pytorch.loggers import WandbLogger

    folder = Path(save_dir)
    auto_name, auto_group = _hydra_name_and_group()
    mode = mode or os.environ.get("WANDB_MODE") or ("online" if wandb_logged_in() else "offline")
    logger = WandbLogger(
        save_dir=str(folder),
        project=project,
        entity=entity,
        name=name or auto_name,
        group=group or auto_group,
        tags=list(tags or []),
        id=run_id(folder),
        resume="allow",
        log_model=log_model,
        mode=mode,
    )
    if mode == "offline":
        rank_zero_only(log.info)(
            "W&B is offline (no credentials here): the run is saved under %s/wandb; upload it later with: "
            "wandb sync %s/wandb/offline-run-*",
            folder,
            folder,
        )
    return logger


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_run(loggers: list[Any], config: dict[str, Any], n_parameters: int, root: Path) -> None:
    """Full resolved config, parameter count and git commit to every logger; W&B chart axes."""
    extra = {"n_parameters": n_parameters, "git_commit": git_commit(root)}
    for logger in loggers:
        logger.log_hyperparams({**config, **extra})
        if type(logger).__name__ == "WandbLogger":
            run = logger.experiment
            if hasattr(run, "define_metric"):  # the real run on rank 0, a dummy elsewhere
                run.define_metric("train/tokens")
                run.define_metric("*", step_metric="train/tokens")  # charts against tokens seen
                run.define_metric("val/loss", step_metric="train/tokens", summary="min")


def finish_wandb(exit_code: int) -> None:
    """End the W&B run of this process, if any: failed runs with a non-zero exit code."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)


def own_wandb_service() -> None:
    """Make this program start its own W&B service instead of joining one named by an inherited
    ``WANDB_SERVICE`` (set by a parent process that used wandb). A shared service outlives a
    killed run and keeps its run id "in use", so resuming that run right away would fail."""
    os.environ.pop("WANDB_SERVICE", None)
