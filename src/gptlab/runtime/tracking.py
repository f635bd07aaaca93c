"""Experiment tracking: a W&B run a researcher can read, online or offline without being asked.

- online when this machine has W&B credentials (WANDB_API_KEY or ``wandb login``), else offline,
  saying once where the run is and the ``wandb sync`` command that uploads it; WANDB_MODE wins;
- name, group and tags from the config and Hydra: a sweep's jobs share a group named after the
  sweep folder, each job is named by its overrides;
- online needs the server too: credentials without a route to it (a cluster's compute node) give
  an offline run after a connection attempt of a few seconds, not minutes of W&B's retries;
- the run id is kept in the run folder, so a resumed run (``ckpt_path=last``) continues the same
  W&B run; every run is finished, with exit code 1 when it failed;
- W&B's step is the optimizer step, so a resumed offline run continues the history where the
  previous start left it, and ``wandb sync`` of all the run's offline folders uploads one history.
"""

from __future__ import annotations

import logging
import netrc
import os
import secrets
import shlex
import socket
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from gptlab import atomic
from gptlab.upstream.wandb import drop_unset_init_arguments

log = logging.getLogger(__name__)
ID_FILE = "wandb_id.txt"
DEFAULT_SERVER = "https://api.wandb.ai"


def wandb_logged_in() -> bool:
    """Whether W&B credentials exist here (no network access)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_server() -> str:
    return os.environ.get("WANDB_BASE_URL") or DEFAULT_SERVER


def server_reachable(url: str, timeout_s: float) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout_s`` (name lookup
    included: it runs in a thread that is abandoned when the time is up)."""
    parsed = urlparse(url)
    host = parsed.hostname or url
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    reached: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                reached.append(True)
        except Exception:  # unreachable, refused, no such host, timed out: all "offline"
            reached.append(False)

    thread = threading.Thread(target=connect, daemon=True, name="wandb-reachable")
    thread.start()
    thread.join(timeout_s)
    return bool(reached and reached[0])


def choose_mode(timeout_s: float) -> tuple[str, str | None]:
    """(mode, why offline): WANDB_MODE wins; online with credentials and a reachable server."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"], None
    if not wandb_logged_in():
        return "offline", "no credentials here"
    server = wandb_server()
    if not server_reachable(server, timeout_s):
        return "offline", f"{server} cannot be reached within {timeout_s:g} s"
    return "online", None


class StepWandbLogger(WandbLogger):
    """Lightning's WandbLogger, logging each row at the optimizer step it belongs to as W&B's own
    step (Lightning's leaves W&B counting its calls). A resumed run, online or offline, goes on
    at the step it resumed from, so ``wandb sync`` of every offline part uploads one history.
    ``offline_sync``: the command that uploads an offline run (None online)."""

    offline_sync: str | None = None

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self.experiment.log(dict(metrics), step=step)


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
        atomic.write_text(path, new_id)
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
    connect_timeout_s: float = 5.0,
) -> StepWandbLogger:
    """Lightning's WandbLogger, set up as the module docstring says."""
    folder = Path(save_dir)
    auto_name, auto_group = _hydra_name_and_group()
    why_offline = None
    if not mode:
        mode, why_offline = choose_mode(connect_timeout_s)
    import wandb

    logger = StepWandbLogger(
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
        # metrics, not screen frames: no console capture (a progress line repaints it hundreds of
        # times), and none of W&B's own lines (the run's folder and sync command are gptlab's)
        settings=wandb.Settings(console="off", silent=True),
    )
    drop_unset_init_arguments(logger)
    logger.offline_sync = sync_command(folder) if mode == "offline" else None
    if mode == "offline":
        rank_zero_only(log.info)(
            "W&B is offline (%s): the run is saved under %s; upload it later with: %s",
            why_offline or "logger.wandb.mode=offline",
            folder / "wandb",
            sync_command(folder),
        )
    return logger


def sync_command(folder: Path) -> str:
    """The ``wandb sync`` line for a run folder: every offline part of the run, oldest first
    (a resumed run has one per start; W&B syncs the parts of one run in order of start time)."""
    return f"wandb sync {shlex.quote(str(folder / 'wandb'))}/offline-run-*"


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
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            if hasattr(run, "define_metric"):  # the real run on rank 0, a dummy elsewhere
                run.define_metric("train/tokens")
                run.define_metric("*", step_metric="train/tokens")  # charts against tokens seen
                run.define_metric("val/loss", step_metric="train/tokens", summary="last,min")


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
