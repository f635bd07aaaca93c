"""A Hugging Face folder for a model no ``transformers`` class computes (value embeddings, U-net
skips, squared ReLU, a logit soft-cap, ...): gptlab's own modeling code travels with the weights.

The folder holds ``configuration_gptlab.py`` and ``modeling_gptlab.py`` (:mod:`gptlab.interop.remote`)
and gptlab's model source as it is (``gptlab.model.gpt``, ``.attention``, ``.config`` and
``gptlab.errors``, their imports made relative), so ``AutoModelForCausalLM.from_pretrained(folder,
trust_remote_code=True)`` computes gptlab's logits, also where gptlab is not installed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from gptlab import errors
from gptlab.data.tokenizer import EOT_ID
from gptlab.interop.layouts import HFFormatError
from gptlab.model import GPTConfig
from gptlab.model import attention as model_attention
from gptlab.model import config as model_config
from gptlab.model import gpt as model_gpt

REMOTE = Path(__file__).parent / "remote"
MODEL_TYPE = "gptlab"
# the folder's copy of gptlab's model source: file name -> module
MODEL_SOURCES = {"gptlab_errors.py": errors, "gptlab_config.py": model_config,
                 "gptlab_attention.py": model_attention, "gptlab_gpt.py": model_gpt}  # fmt: skip
RELATIVE = {"from gptlab.errors import": "from .gptlab_errors import",
            "from gptlab.model.config import": "from .gptlab_config import",
            "from gptlab.model.attention import": "from .gptlab_attention import"}  # fmt: skip
CODE_FILES = ("configuration_gptlab.py", "modeling_gptlab.py", *MODEL_SOURCES)
PREFIX = "model."  # GptlabForCausalLM holds the GPT as .model


def code_files() -> dict[str, str]:
    """File name -> source of every Python file the folder carries."""
    files = {name: (REMOTE / name).read_text() for name in CODE_FILES[:2]}
    for name, module in MODEL_SOURCES.items():
        text = Path(module.__file__).read_text()
        for absolute, relative in RELATIVE.items():
            text = text.replace(absolute, relative)
        # imports at the top run when the folder loads (those inside functions the model never
        # calls, such as errors.user_error's, do not)
        left = re.search(r"^(from|import) gptlab\b.*$", text, re.MULTILINE)
        if left:  # the model gained an import the folder cannot satisfy
            raise RuntimeError(
                f"{module.__name__}: {left.group(0).strip()} has no copy in the folder"
            )
        files[name] = text
    return files


def remote_code_tensors(cfg: GPTConfig, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """(tensors, config.json) of a gptlab model for its own modeling code. A tied head is stored
    once, as the token embedding (the model ties it again when built)."""
    tensors = {
        PREFIX + key: value
        for key, value in state.items()
        if not (cfg.tie_weights and key == "lm_head.weight")
    }
    config = {
        "architectures": ["GptlabForCausalLM"],
        "model_type": MODEL_TYPE,
        "auto_map": {
            "AutoConfig": "configuration_gptlab.GptlabConfig",
            "AutoModelForCausalLM": "modeling_gptlab.GptlabForCausalLM",
        },
        "gptlab": cfg.to_dict(),
        "vocab_size": cfg.vocab_size,
        "tie_word_embeddings": cfg.tie_weights,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "torch_dtype": "float32",
    }
    return tensors, config


def from_remote_code(
    config: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """(config, gptlab state_dict) of a folder :func:`remote_code_tensors` wrote."""
    if not isinstance(config.get("gptlab"), dict):
        raise HFFormatError("config.json: model_type gptlab without its gptlab architecture")
    cfg = GPTConfig.from_dict(config["gptlab"])
    state = {k.removeprefix(PREFIX): v for k, v in tensors.items()}
    if cfg.tie_weights and "tok_emb.weight" in state:
        state["lm_head.weight"] = state["tok_emb.weight"]
    return cfg, state
