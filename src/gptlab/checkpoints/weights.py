"""A model's weights from a checkpoint or a Hugging Face folder: for eval, generate, export, the
harness, and the weights a run starts from (``init_from``)."""

from __future__ import annotations

from pathlib import Path

import torch

from gptlab.checkpoints.reader import (
    CheckpointError,
    check_compatible,
    model_state,
    read_checkpoint,
    saved_config,
)
from gptlab.errors import ConfigError
from gptlab.model import GPT, GPTConfig


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


def initial_weights(source: str, config: GPTConfig) -> dict[str, torch.Tensor]:
    """Weights to start training from (``init_from``): a gptlab ``.ckpt`` file, or a Hugging Face
    folder or Hub name (GPT-2, Llama or Qwen3 layout), checked against ``config``."""
    key = "init_from"
    if str(source).endswith(".ckpt"):
        checkpoint = read_checkpoint(source, key)
        check_compatible(saved_config(checkpoint), config, f"{key}={source}", True)
        return model_state(checkpoint)
    from gptlab.interop.hf import load_hf

    imported, state = load_hf(source)
    check_compatible(imported, config, f"{key}={source}", allow_shorter_context=True)
    return state


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
