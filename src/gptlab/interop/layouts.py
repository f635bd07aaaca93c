"""How gptlab's GPT maps onto Hugging Face's architectures: which one computes the same function
(:func:`family`), its config (:func:`config_from_hf`, :func:`hf_config`) and its tensor names."""

from __future__ import annotations

from typing import Any

import torch

from gptlab.data.tokenizer import EOT_ID
from gptlab.errors import GptlabError
from gptlab.model import GPTConfig

# GPT-2: gptlab name -> (Hugging Face name, stored transposed as Conv1D)
GPT2_BLOCK = {
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
LLAMA_BLOCK = {
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
SPEEDRUN_SWITCHES = {"logit_softcap": None, "value_embeds": 0, "unet_skips": False,
                     "attn_window": None}  # fmt: skip
GPT2_SHAPE = {"pos_emb": "learned", "norm": "layernorm", "mlp": "gelu", "bias": True,
              "qk_norm": False, "n_kv_heads": None, **SPEEDRUN_SWITCHES}  # fmt: skip
LLAMA_SHAPE = {"pos_emb": "rope", "norm": "rmsnorm", "mlp": "swiglu", "bias": False,
               "qkv_bias": False, **SPEEDRUN_SWITCHES}  # fmt: skip


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


def hf_tensors(cfg: GPTConfig, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """(Hugging Face tensors, config.json) of a gptlab state dict, in its family's layout."""
    tensors, config = (_gpt2_folder if family(cfg) == "gpt2" else _llama_folder)(cfg, state)
    config.update(
        vocab_size=cfg.vocab_size,
        tie_word_embeddings=cfg.tie_weights,
        bos_token_id=EOT_ID,
        eos_token_id=EOT_ID,
        torch_dtype="float32",
    )
    return tensors, config


def _gpt2_folder(cfg: GPTConfig, state: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    V = cfg.vocab_size
    out = {
        "transformer.wte.weight": state["tok_emb.weight"][:V],
        "transformer.wpe.weight": state["pos_emb.weight"],
        "transformer.ln_f.weight": state["ln_f.weight"],
        "transformer.ln_f.bias": state["ln_f.bias"],
    }
    for i in range(cfg.n_layers):
        for our, (theirs, transposed) in GPT2_BLOCK.items():
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
        for our, theirs in LLAMA_BLOCK.items():
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
