"""Checking a checkpoint before resuming from it, so a wrong file stops at once with one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from gptlab.cli import EXIT_USER_ERROR
from gptlab.errors import GptlabError
from gptlab.model import ARCHITECTURE_KEYS, GPTConfig


def refuse_fresh_start_over(run_dir: Path, ckpt_path: str | None) -> None:
    """A fresh start (``ckpt_path=null``) in a folder that already holds a last.ckpt would
    overwrite that run's checkpoints: stop instead."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None and last.is_file():
        raise GptlabError(
            f"{run_dir} already holds a run ({last}); ckpt_path=null would start over and overwrite "
            "its checkpoints: resume it with ckpt_path=last, or pick a new run_name"
        )


class ExistingRunGuard(Callback):
    """Hydra callback: the check above before Hydra writes anything into the run folder. Hydra
    turns exceptions of callbacks into warnings, so this one prints the error line and exits."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = OmegaConf.select(config, "hydra.run.dir")
        if not run_dir or not config.get("train") or OmegaConf.is_missing(config, "ckpt_path"):
            return  # only training writes checkpoints (eval.py and generate.py read them)
        try:
            refuse_fresh_start_over(Path(run_dir).absolute(), config.ckpt_path)
        except GptlabError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(EXIT_USER_ERROR)


def resolve_checkpoint(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``last`` -> this run folder's last.ckpt when there is one (else None: start fresh).

    A fresh start (``null``) in a folder that already holds a last.ckpt is refused: it would
    overwrite that run's checkpoints.
    """
    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path == "last":
        return str(last) if last.is_file() else None
    refuse_fresh_start_over(run_dir, ckpt_path)
    return ckpt_path


def check_checkpoint(ckpt_path: str, config: GPTConfig) -> None:
    """The file exists, is a readable gptlab checkpoint, and holds this run's architecture."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise GptlabError(
            f"ckpt_path={path} does not exist; give a .ckpt file, or ckpt_path=last with run_name=<run> to resume it"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        saved = checkpoint["hyper_parameters"]["model"]
        checkpoint["state_dict"]
    except Exception as err:
        raise GptlabError(
            f"ckpt_path={path} is not a readable gptlab checkpoint ({type(err).__name__}): truncated, "
            "corrupt or from another program; use another checkpoint"
        ) from err
    for key in ARCHITECTURE_KEYS:
        if key in saved and saved[key] != getattr(config, key):
            raise GptlabError(
                f"ckpt_path={path} holds a model with model.{key}={saved[key]}, but this run has "
                f"model.{key}={getattr(config, key)}; set model.{key}={saved[key]} to resume it"
            )
