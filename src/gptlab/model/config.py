"""The architecture of a GPT, and nothing else: every field shapes the network or its function.

Defaults are GPT-2 small (124M). Each later-model choice is one switch (rotary positions, RMSNorm,
squared-ReLU or SwiGLU MLPs, QK-norm, grouped-query attention, untied head, logit soft-cap, the
speedrun's value embeddings, U-net skips and sliding-window attention), so they compose and sweep
from the command line. How the model is run (compiling, the loss and attention kernels, initial
weights) belongs to the run, not here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from gptlab.errors import ConfigError, check_known_keys

POS_EMBS = ("learned", "rope")
NORMS = ("layernorm", "rmsnorm")
MLPS = ("gelu", "relu2", "swiglu")

# fields that change neither the weights' shapes nor what the network computes: a checkpoint
# resumes under other values of these
NOT_IN_CHECKPOINT_CHECK = ("drop_rate", "init_std", "zero_init_proj")


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = False  # biases on Q/K/V (OpenAI's GPT-2 weights have them)
    bias: bool = True  # biases in the other linear layers and in LayerNorm (GPT-2: yes, Llama: no)
    hidden_dim: int | None = None  # MLP width; None: 4 * emb_dim, or 8/3 * emb_dim for swiglu
    mlp: str = "gelu"  # gelu (GPT-2), relu2 (squared ReLU), swiglu (gated, three matrices)
    norm: str = "layernorm"  # layernorm (GPT-2) or rmsnorm
    norm_eps: float = 1e-5
    pos_emb: str = "learned"  # learned position table (GPT-2) or rope (rotary, no table)
    rope_theta: float = 10000.0
    qk_norm: bool = False  # RMSNorm on each head's queries and keys (Qwen3, the speedrun)
    n_kv_heads: int | None = None  # grouped-query attention; None: n_heads (plain multi-head)
    logit_softcap: float | None = None  # logits -> c * tanh(logits / c)
    tie_weights: bool = True  # output head shares the token embedding (GPT-2 does)
    vocab_multiple: int = 1  # pad the embedding rows to a multiple of this (64 is faster on GPUs)
    init_std: float = 0.02  # normal(0, init_std) for weights; GPT-2's value
    zero_init_proj: bool = False  # residual output projections start at zero (the speedrun)
    # token-indexed tables mixed into the attention values (the speedrun): table i feeds layer i
    # and layer n_layers - value_embeds + i, the first and last layers
    value_embeds: int = 0
    unet_skips: bool = False  # the first half's block outputs feed the second half's, mirrored
    # sliding-window attention: each position attends to itself and the attn_window - 1 before
    # it; None: to every earlier position (a run may grow it to this: module.attn_window_start)
    attn_window: int | None = None

    def __post_init__(self) -> None:
        if self.hidden_dim is None and isinstance(self.emb_dim, int):
            self.hidden_dim = default_hidden_dim(self.emb_dim, self.mlp)
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first impossible key (as ``model.<key>``)."""
        for name in (
            "vocab_size",
            "context_length",
            "emb_dim",
            "n_heads",
            "n_layers",
            "hidden_dim",
        ):
            check_positive_int(name, getattr(self, name))
        if self.emb_dim % self.n_heads:
            raise ConfigError(
                f"model.emb_dim={self.emb_dim} must be divisible by model.n_heads={self.n_heads}; "
                f"pick emb_dim as a multiple of n_heads (e.g. {self.n_heads * 64})"
            )
        if not isinstance(self.drop_rate, (int, float)) or not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"model.drop_rate={self.drop_rate!r} must be in [0, 1)")
        for name, allowed in (("mlp", MLPS), ("norm", NORMS), ("pos_emb", POS_EMBS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"model.{name}={getattr(self, name)!r} must be one of {list(allowed)}"
                )
        for name in ("qkv_bias", "bias", "qk_norm", "tie_weights", "zero_init_proj", "unet_skips"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.{name}={getattr(self, name)!r} must be true or false")
        if self.n_kv_heads is not None:
            check_positive_int("n_kv_heads", self.n_kv_heads)
            if self.n_heads % self.n_kv_heads:
                raise ConfigError(
                    f"model.n_kv_heads={self.n_kv_heads} must divide model.n_heads={self.n_heads}"
                )
        if self.pos_emb == "rope" and self.head_dim % 2:
            raise ConfigError(
                f"model.pos_emb=rope needs an even head size; emb_dim/n_heads={self.head_dim}"
            )
        for name in ("rope_theta", "norm_eps", "init_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"model.{name}={value!r} must be a number > 0")
        if self.logit_softcap is not None and (
            isinstance(self.logit_softcap, bool)
            or not isinstance(self.logit_softcap, (int, float))
            or not self.logit_softcap > 0
        ):
            raise ConfigError(f"model.logit_softcap={self.logit_softcap!r} must be > 0 or null")
        check_positive_int("vocab_multiple", self.vocab_multiple)
        if self.attn_window is not None:
            check_positive_int("attn_window", self.attn_window)
        ve = self.value_embeds
        if isinstance(ve, bool) or not isinstance(ve, int) or not 0 <= 2 * ve <= self.n_layers:
            raise ConfigError(
                f"model.value_embeds={ve!r} must be an integer from 0 to model.n_layers/2 "
                f"({self.n_layers // 2}): each table feeds one of the first and one of the last layers"
            )

    def value_embed_of(self, layer: int) -> int | None:
        """The value-embedding table that ``layer`` mixes into its values, or None."""
        k = self.value_embeds
        if layer < k:
            return layer
        if layer >= self.n_layers - k:
            return layer - (self.n_layers - k)
        return None

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def padded_vocab_size(self) -> int:
        return math.ceil(self.vocab_size / self.vocab_multiple) * self.vocab_multiple

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GPTConfig:
        """Build from a plain mapping, naming an unknown key instead of failing with a TypeError."""
        check_known_keys(cls, values, "model", "an architecture setting")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: GPTConfig) -> list[str]:
        """Keys whose values differ and matter to a checkpoint (weights' shapes or the function)."""
        return [
            f.name
            for f in fields(self)
            if f.name not in NOT_IN_CHECKPOINT_CHECK
            and getattr(self, f.name) != getattr(other, f.name)
        ]


ARCHITECTURE_KEYS = tuple(f.name for f in fields(GPTConfig))


def default_hidden_dim(emb_dim: int, mlp: str) -> int:
    """4 x emb_dim (GPT-2); for SwiGLU 8/3 x emb_dim rounded up to a multiple of 64, so its three
    matrices hold about as many parameters as GPT-2's two (768 -> 2048)."""
    if mlp == "swiglu":
        return 64 * math.ceil(8 * emb_dim / 3 / 64)
    return 4 * emb_dim


def check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"model.{name}={value!r} must be a positive integer")
