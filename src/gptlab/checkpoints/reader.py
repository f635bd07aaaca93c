"""Reading gptlab checkpoints, in one place: every command that takes a ``.ckpt`` comes here.

One reader (:func:`read_checkpoint`: exists, loads with ``weights_only=True``, holds what gptlab
writes), one architecture check (:func:`check_compatible`), one way to build the model
(:func:`model_from_checkpoint`). Resume, ``eval.py``, ``generate.py``, the Hugging Face export and
``module.init_from`` all use them, so a bad file reads the same everywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from gptlab.errors import GptlabError
from gptlab.model import ARCHITECTURE_KEYS, GPT, GPTConfig

log = logging.getLogger(__name__)

LAST, PREVIOUS = "last.ckpt", "previous.ckpt"  # a run's checkpoints/ folder: newest, one before


class CheckpointError(GptlabError):
    """A checkpoint file that is missing, unreadable or of another architecture."""


def read_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The checkpoint at ``path`` (``key`` names the setting that gave it, for the message),
    loaded with ``weights_only=True`` (no code runs) and memory-mapped."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{key}={path} does not exist; give a .ckpt file, or ckpt_path=last with "
            "run_name=<run> to resume a run"
        )
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


def check_compatible(
    saved: GPTConfig, wanted: GPTConfig, source: str, allow_shorter_context: bool = False
) -> None:
    """The run's architecture (``wanted``) must be the checkpoint's (``saved``): name the first key
    that differs. ``allow_shorter_context``: starting from weights (not resuming) may use fewer
    position rows and another vocabulary padding."""
    ignored = ("context_length", "vocab_multiple") if allow_shorter_context else ()
    differ = [k for k in saved.differences(wanted) if k not in ignored]
    if differ:
        key = differ[0]
        raise CheckpointError(
            f"{source} holds a model with model.{key}={getattr(saved, key)}, but this run has "
            f"model.{key}={getattr(wanted, key)}; set model.{key}={getattr(saved, key)}"
        )
    if allow_shorter_context and wanted.context_length > saved.context_length:
        raise CheckpointError(
            f"model.context_length={wanted.context_length} is longer than {source}'s "
            f"{saved.context_length}"
        )


def model_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The GPT's own tensors from a Lightning checkpoint (the module holds it as ``model``)."""
    return {
        k.removeprefix("model.").replace("_orig_mod.", ""): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("model.")
    }


def model_from_checkpoint(path: str | Path, key: str = "ckpt_path") -> GPT:
    """A GPT in eval mode with the weights of a gptlab checkpoint."""
    checkpoint = read_checkpoint(path, key)
    model = GPT(saved_config(checkpoint))
    model.load_state_dict(model_state(checkpoint))
    return model.eval()


def load_model(ckpt_path: str | None = None, init_from: str | None = None) -> GPT:
    """A GPT in eval mode from exactly one of a gptlab checkpoint (``ckpt_path``) or Hugging Face
    weights (``init_from``: a folder, or a Hub name when online), for the commands that read one."""
    if bool(ckpt_path) == bool(init_from):
        from gptlab.errors import ConfigError

        raise ConfigError(
            "set exactly one of ckpt_path=<gptlab .ckpt> or init_from=<Hugging Face folder>"
        )
    if ckpt_path:
        return model_from_checkpoint(ckpt_path)
    from gptlab.interop.hf import load_hf

    config, state = load_hf(init_from)
    model = GPT(config)
    model.load_state_dict(state)
    return model.eval()


def load_weights_into(model: GPT, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` into ``model`` (initial weights), naming the first tensor whose shape differs.
    Rows may differ: a shorter context uses the first position rows; padded vocabulary rows keep
    their initialisation (the real sizes were compared by :func:`check_compatible`)."""
    own = model.state_dict()
    for key, tensor in state.items():
        if key not in own:
            raise CheckpointError(f"{source}: tensor {key} has no place in this model")
        target = own[key]
        if tensor.shape[1:] != target.shape[1:]:
            raise CheckpointError(
                f"{source}: tensor {key} has shape {tuple(tensor.shape)}, the model has "
                f"{tuple(target.shape)}"
            )
        rows = min(tensor.shape[0], target.shape[0])
        with torch.no_grad():
            target[:rows].copy_(tensor[:rows])


def initial_weights(source: str, config: GPTConfig) -> dict[str, torch.Tensor]:
    """Weights to start training from (``module.init_from``): a gptlab ``.ckpt`` file, or a
    Hugging Face folder or Hub name (GPT-2, Llama or Qwen3 layout), checked against ``config``."""
    key = "module.init_from"
    if str(source).endswith(".ckpt"):
        checkpoint = read_checkpoint(source, key)
        check_compatible(saved_config(checkpoint), config, f"{key}={source}", True)
        return model_state(checkpoint)
    from gptlab.interop.hf import load_hf

    imported, state = load_hf(source)
    check_compatible(imported, config, f"{key}={source}", allow_shorter_context=True)
    return state


def resolve_checkpoint(ckpt_path: str | None, run_dir: Path) -> str | None:
    """``last`` -> the newest checkpoint of this run folder that loads (None: start fresh).

    A fresh start (``null``) in a folder that already holds a last.ckpt is refused: it would
    overwrite that run's checkpoints.
    """
    if ckpt_path == "last":
        return newest_loadable(run_dir / "checkpoints")
    refuse_fresh_start_over(run_dir, ckpt_path)
    return ckpt_path


_warned: set[Path] = set()


def newest_loadable(folder: Path) -> str | None:
    """``last.ckpt``, or ``previous.ckpt`` (with a warning) when last.ckpt does not load; None when
    the folder holds neither. When none of them loads, say how to start over."""
    found = [folder / name for name in (LAST, PREVIOUS) if (folder / name).is_file()]
    unreadable: list[tuple[Path, str]] = []
    for path in found:
        try:
            read_checkpoint(path)
        except CheckpointError as err:
            unreadable.append((path, type(err.__cause__).__name__))
            continue
        if unreadable and path not in _warned:
            _warned.add(path)
            bad, why = unreadable[0]
            log.warning("%s does not load (%s); resuming from %s instead", bad, why, path.name)
        return str(path)
    if not unreadable:
        return None
    names = ", ".join(f"{p.name} ({why})" for p, why in unreadable)
    raise CheckpointError(
        f"no checkpoint of {folder.parent} loads: {names}; start over under a new name "
        f"(run_name=<new name>), or move {folder.parent} away first"
    )


def set_aside_unreadable(resumed_from: str | Path) -> None:
    """Resuming from ``previous.ckpt``: rename the unreadable ``last.ckpt`` beside it to
    ``last.ckpt.unreadable``, so the next save does not rotate it over the good one."""
    resumed_from = Path(resumed_from)
    last = resumed_from.with_name(LAST)
    if resumed_from.name == PREVIOUS and last.is_file():
        last.replace(last.with_name(f"{LAST}.unreadable"))


def refuse_fresh_start_over(run_dir: Path, ckpt_path: str | None) -> None:
    """A fresh start (``ckpt_path=null``) in a folder that already holds a last.ckpt would
    overwrite that run's checkpoints: stop instead."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if ckpt_path is None and last.is_file():
        raise CheckpointError(
            f"{run_dir} already holds a run ({last}); ckpt_path=null would start over and overwrite "
            "its checkpoints: resume it with ckpt_path=last, or pick a new run_name"
        )


def check_resumable(ckpt_path: str, config: GPTConfig, optimizer: str | None = None) -> None:
    """Resuming: the file is a readable gptlab checkpoint of exactly this architecture, trained
    with the same optimizer (its state is restored)."""
    checkpoint = read_checkpoint(ckpt_path)
    check_compatible(saved_config(checkpoint), config, f"ckpt_path={ckpt_path}")
    saved = checkpoint["hyper_parameters"].get("optim", {}).get("name", "adamw")
    if optimizer is not None and saved != optimizer:
        raise CheckpointError(
            f"ckpt_path={ckpt_path} was trained with optim={saved}, but this run has "
            f"optim={optimizer}; set optim={saved} to resume it, or start from its weights with "
            f"module.init_from={ckpt_path} (a fresh optimizer)"
        )
