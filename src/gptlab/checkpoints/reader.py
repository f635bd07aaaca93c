"""Reading gptlab checkpoints, in one place: every command that takes a ``.ckpt`` comes here.

One reader (:func:`read_checkpoint`: exists, loads with ``weights_only=True``, holds what gptlab
writes) and one architecture check (:func:`check_compatible`), so a bad file reads the same in
resume, ``eval.py``, ``generate.py``, the Hugging Face export and ``init_from``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gptlab.errors import GptlabError
from gptlab.model import ARCHITECTURE_KEYS, GPTConfig
from gptlab.upstream.torch import without_compile_prefix


class CheckpointError(GptlabError):
    """A checkpoint file that is missing, unreadable or of another architecture."""


def read_checkpoint(
    path: str | Path, key: str = "ckpt_path", hint: str = "give the path of a .ckpt file"
) -> dict[str, Any]:
    """The checkpoint at ``path`` (``key`` names the setting that gave it, ``hint`` what to do
    when it is missing), loaded with ``weights_only=True`` (no code runs) and memory-mapped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{key}={path} does not exist; {hint}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        checkpoint["hyper_parameters"]["model"]
        checkpoint["state_dict"]
    except Exception as err:  # truncated, not a zip, unpicklable, missing keys: all "unreadable"
        raise CheckpointError(
            f"{key}={path} is not a readable gptlab checkpoint ({type(err).__name__}): truncated, "
            "corrupt or from another program; use another checkpoint"
        ) from err
    return checkpoint


def saved_config(checkpoint: dict[str, Any]) -> GPTConfig:
    """The architecture a checkpoint was trained with. Checkpoints of gptlab 0.1 also hold run
    options (compile, fused_loss, init_from) among the model's values; they are dropped."""
    values = checkpoint["hyper_parameters"]["model"]
    return GPTConfig(**{k: v for k, v in values.items() if k in ARCHITECTURE_KEYS})


def saved_optimizer(checkpoint: dict[str, Any]) -> str:
    return checkpoint["hyper_parameters"].get("optim", {}).get("name", "adamw")


def saved_step(checkpoint: dict[str, Any]) -> int:
    """Optimizer steps the checkpoint's run had taken."""
    return int(checkpoint.get("global_step", 0))


def check_compatible(
    saved: GPTConfig, wanted: GPTConfig, source: str, allow_shorter_context: bool = False
) -> None:
    """The run's architecture (``wanted``) must be the checkpoint's (``saved``): name every key that
    differs, at once. ``allow_shorter_context``: starting from weights (not resuming) may use fewer
    position rows and another vocabulary padding."""
    ignored = ("context_length", "vocab_multiple") if allow_shorter_context else ()
    differ = [k for k in saved.differences(wanted) if k not in ignored]
    if differ:
        theirs = " and ".join(f"model.{k}={getattr(saved, k)}" for k in differ)
        ours = " and ".join(f"model.{k}={getattr(wanted, k)}" for k in differ)
        fix = " ".join(f"model.{k}={getattr(saved, k)}" for k in differ)
        raise CheckpointError(
            f"{source} holds a model with {theirs}, but this run has {ours}; set {fix}"
        )
    if allow_shorter_context and wanted.context_length > saved.context_length:
        raise CheckpointError(
            f"model.context_length={wanted.context_length} is longer than {source}'s "
            f"{saved.context_length}"
        )


def model_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The GPT's own tensors from a Lightning checkpoint (the module holds it as ``model``)."""
    return {
        without_compile_prefix(k.removeprefix("model.")): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("model.")
    }
