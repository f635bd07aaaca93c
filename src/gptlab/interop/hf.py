"""GPT-2 weights in and out of the Hugging Face format (``GPT2LMHeadModel`` folders).

Hugging Face's GPT-2 stores its linear layers as ``Conv1D`` (weights transposed) and always has
QKV biases; OpenAI's released weights therefore need ``model.qkv_bias=true`` here. Loading uses
safetensors, or ``torch.load(weights_only=True)`` for ``pytorch_model.bin``: never a pickle.

    python -m gptlab export <gptlab .ckpt> <out folder>
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gptlab.data.tokenizer import EOT_ID
from gptlab.errors import GptlabError
from gptlab.model import GPT, GPTConfig

# gptlab name pattern -> Hugging Face name pattern, and whether HF stores it transposed (Conv1D)
_BLOCK_KEYS = {
    "ln1.weight": ("ln_1.weight", False),
    "ln1.bias": ("ln_1.bias", False),
    "attn.qkv.weight": ("attn.c_attn.weight", True),
    "attn.qkv.bias": ("attn.c_attn.bias", False),
    "attn.proj.weight": ("attn.c_proj.weight", True),
    "attn.proj.bias": ("attn.c_proj.bias", False),
    "ln2.weight": ("ln_2.weight", False),
    "ln2.bias": ("ln_2.bias", False),
    "mlp.fc.weight": ("mlp.c_fc.weight", True),
    "mlp.fc.bias": ("mlp.c_fc.bias", False),
    "mlp.proj.weight": ("mlp.c_proj.weight", True),
    "mlp.proj.bias": ("mlp.c_proj.bias", False),
}


class HFFormatError(GptlabError):
    """A Hugging Face folder that does not hold a GPT-2 model gptlab can use."""


def config_from_hf(hf: dict[str, Any]) -> GPTConfig:
    if hf.get("model_type", "gpt2") != "gpt2":
        raise HFFormatError(
            f"config.json: model_type={hf.get('model_type')!r}; only gpt2 is supported"
        )
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ("gelu_new", "gelu_pytorch_tanh"):
        raise HFFormatError(
            f"config.json: activation_function={activation!r}; gptlab's GPT uses tanh GELU"
        )
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        context_length=hf["n_positions"],
        emb_dim=hf["n_embd"],
        n_heads=hf["n_head"],
        n_layers=hf["n_layer"],
        hidden_dim=hf.get("n_inner") or 4 * hf["n_embd"],
        drop_rate=0.0,
        qkv_bias=True,
        tie_weights=hf.get("tie_word_embeddings", True),
    )


def _resolve(source: str | Path) -> Path:
    """A local folder, or a Hub name downloaded into the Hugging Face cache when online."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or str(source).startswith((".", "/", "~")):
        raise HFFormatError(f"{source}: no such folder (a Hugging Face model folder)")
    from gptlab.data.sources import ensure_online

    ensure_online("huggingface.co", f"the Hugging Face model {source}")
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(str(source), allow_patterns=["config.json", "*.safetensors", "*.bin"])
    )


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise HFFormatError(f"{folder}: no model.safetensors or pytorch_model.bin")


def load_hf(source: str | Path) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """(config, gptlab state_dict) from a Hugging Face GPT-2 folder or Hub name."""
    folder = _resolve(source)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise HFFormatError(f"{folder}: no config.json")
    config = config_from_hf(json.loads(config_file.read_text()))
    hf = {k.removeprefix("transformer."): v for k, v in _read_weights(folder).items()}
    ours: dict[str, torch.Tensor] = {}

    def take(hf_key: str, our_key: str, transposed: bool, shape: torch.Size) -> None:
        if hf_key not in hf:
            raise HFFormatError(f"{folder}: tensor {hf_key} is missing")
        tensor = hf[hf_key].t() if transposed else hf[hf_key]
        if tensor.shape != shape:
            raise HFFormatError(
                f"{folder}: tensor {hf_key} has shape {tuple(tensor.shape)}, gptlab expects {tuple(shape)}"
            )
        ours[our_key] = tensor.contiguous()

    reference = GPT(config).state_dict()
    take("wte.weight", "tok_emb.weight", False, reference["tok_emb.weight"].shape)
    take("wpe.weight", "pos_emb.weight", False, reference["pos_emb.weight"].shape)
    for i in range(config.n_layers):
        for our, (theirs, transposed) in _BLOCK_KEYS.items():
            take(
                f"h.{i}.{theirs}",
                f"blocks.{i}.{our}",
                transposed,
                reference[f"blocks.{i}.{our}"].shape,
            )
    take("ln_f.weight", "ln_f.weight", False, reference["ln_f.weight"].shape)
    take("ln_f.bias", "ln_f.bias", False, reference["ln_f.bias"].shape)
    if config.tie_weights:
        ours["lm_head.weight"] = ours["tok_emb.weight"]
    else:
        take("lm_head.weight", "lm_head.weight", False, reference["lm_head.weight"].shape)
    return config, ours


def save_hf(model: GPT, folder: str | Path, tokenizer: str = "gpt2") -> Path:
    """Write ``model`` as a Hugging Face GPT2LMHeadModel folder (config.json, model.safetensors)."""
    from safetensors.torch import save_file

    cfg = model.cfg
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    V = cfg.vocab_size
    out: dict[str, torch.Tensor] = {
        "transformer.wte.weight": state["tok_emb.weight"][:V],
        "transformer.wpe.weight": state["pos_emb.weight"],
        "transformer.ln_f.weight": state["ln_f.weight"],
        "transformer.ln_f.bias": state["ln_f.bias"],
    }
    for i in range(cfg.n_layers):
        for our, (theirs, transposed) in _BLOCK_KEYS.items():
            key = f"blocks.{i}.{our}"
            if key not in state:  # no QKV bias here: Hugging Face's GPT-2 always has one
                tensor = torch.zeros(3 * cfg.emb_dim)
            else:
                tensor = state[key].t() if transposed else state[key]
            out[f"transformer.h.{i}.{theirs}"] = tensor
    if not cfg.tie_weights:
        out["lm_head.weight"] = state["lm_head.weight"][:V]
    save_file(
        {k: v.contiguous().clone() for k, v in out.items()}, str(folder / "model.safetensors")
    )
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": V,
        "n_positions": cfg.context_length,
        "n_ctx": cfg.context_length,
        "n_embd": cfg.emb_dim,
        "n_head": cfg.n_heads,
        "n_layer": cfg.n_layers,
        "n_inner": cfg.hidden_dim,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": cfg.drop_rate,
        "embd_pdrop": cfg.drop_rate,
        "attn_pdrop": cfg.drop_rate,
        "tie_word_embeddings": cfg.tie_weights,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "tokenizer_class": "GPT2TokenizerFast",
        "gptlab_tokenizer": tokenizer,  # tiktoken's gpt2 encoding = Hugging Face's "gpt2" tokenizer
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "GPT2TokenizerFast", "name_or_path": tokenizer}, indent=2)
    )
    return folder
