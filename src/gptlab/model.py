"""GPT-2 as a plain PyTorch module: no Lightning, no Hydra.

Read top to bottom in the order data flows: config, attention, MLP, block, GPT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.errors import ConfigError
from gptlab.loss import linear_cross_entropy

# the settings that shape the weights: a checkpoint only fits a model with the same values
ARCHITECTURE_KEYS = (
    "vocab_size",
    "context_length",
    "emb_dim",
    "n_heads",
    "n_layers",
    "hidden_dim",
    "qkv_bias",
    "tie_weights",
    "vocab_multiple",
)


COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class GPTConfig:
    """Architecture of a GPT-2 style model. Defaults are GPT-2 small (124M)."""

    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    n_heads: int = 12
    n_layers: int = 12
    drop_rate: float = 0.1
    qkv_bias: bool = False
    hidden_dim: int | None = None  # MLP width; None means 4 * emb_dim as in GPT-2
    tie_weights: bool = True  # output head shares the token embedding (GPT-2 does)
    vocab_multiple: int = 1  # pad the embedding rows to a multiple of this (64 is faster on GPUs)
    compile: bool | str = False  # not architecture: torch.compile in training; "auto": on GPUs only
    compile_mode: str | None = None  # torch.compile's mode: None (default), max-autotune, ...
    fused_loss: bool = False  # not architecture: output layer + cross-entropy in row chunks
    init_from: str | None = (
        None  # not architecture: start from these GPT-2 weights (HF folder or name)
    )

    def __post_init__(self) -> None:
        if self.hidden_dim is None:
            self.hidden_dim = 4 * self.emb_dim
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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{name}={value!r} must be a positive integer")
        if self.emb_dim % self.n_heads:
            raise ConfigError(
                f"model.emb_dim={self.emb_dim} must be divisible by model.n_heads={self.n_heads}; "
                f"pick emb_dim as a multiple of n_heads (e.g. {self.n_heads * 64})"
            )
        if not isinstance(self.drop_rate, (int, float)) or not 0.0 <= self.drop_rate < 1.0:
            raise ConfigError(f"model.drop_rate={self.drop_rate!r} must be in [0, 1)")
        if self.compile not in (True, False, "auto"):
            raise ConfigError(f"model.compile={self.compile!r} must be true, false or auto")
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"model.compile_mode={self.compile_mode!r} must be one of {list(COMPILE_MODES)}"
            )
        if not isinstance(self.vocab_multiple, int) or self.vocab_multiple < 1:
            raise ConfigError(
                f"model.vocab_multiple={self.vocab_multiple!r} must be an integer >= 1"
            )

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads

    @property
    def padded_vocab_size(self) -> int:
        return math.ceil(self.vocab_size / self.vocab_multiple) * self.vocab_multiple

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GPTConfig:
        """Build from a plain mapping, naming unknown keys instead of failing with a TypeError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {"_target_"})
        if unknown:
            raise ConfigError(f"model.{unknown[0]} is not a model setting; known: {sorted(known)}")
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class KVCache:
    """Keys and values of every layer for incremental decoding: each new token attends to the
    cached ones instead of recomputing the whole prefix."""

    def __init__(
        self, cfg: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (batch, cfg.n_heads, cfg.context_length, cfg.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0  # positions filled
        self.capacity = cfg.context_length


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.drop_rate = cfg.drop_rate
        # one matrix for query, key and value: one large matmul is faster than three small ones
        self.qkv = nn.Linear(cfg.emb_dim, 3 * cfg.emb_dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.emb_dim, cfg.emb_dim)
        self.resid_drop = nn.Dropout(cfg.drop_rate)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        batch, seq, emb = x.shape
        q, k, v = self.qkv(x).split(emb, dim=2)
        # (batch, seq, emb) -> (batch, heads, seq, head_dim)
        q, k, v = (t.view(batch, seq, self.n_heads, -1).transpose(1, 2) for t in (q, k, v))
        mask, causal = None, True
        if cache is not None:
            start = cache.length
            cache.keys[layer][:, :, start : start + seq] = k
            cache.values[layer][:, :, start : start + seq] = v
            k = cache.keys[layer][:, :, : start + seq]
            v = cache.values[layer][:, :, : start + seq]
            if start:  # new queries see every cached position and the causal part of their own
                mask = torch.ones(seq, start + seq, dtype=torch.bool, device=x.device).tril(start)
                causal = False
        # scaled_dot_product_attention picks flash / memory-efficient kernels where it can
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.drop_rate if self.training else 0.0,
            is_causal=causal,
        )
        y = y.transpose(1, 2).contiguous().view(batch, seq, emb)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.emb_dim, cfg.hidden_dim)
        self.act = nn.GELU(approximate="tanh")  # GPT-2 used the tanh approximation
        self.proj = nn.Linear(cfg.hidden_dim, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(self.act(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.emb_dim)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.emb_dim)
        self.mlp = MLP(cfg)

    def forward(
        self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0
    ) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.padded_vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.emb_dim)
        self.lm_head = nn.Linear(cfg.emb_dim, cfg.padded_vocab_size, bias=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        self.apply(self._init_weights)
        # GPT-2: scale residual output projections so the residual stream's variance does not
        # grow with depth (two residual additions per block)
        resid_std = 0.02 / math.sqrt(2 * cfg.n_layers)
        for block in self.blocks:
            nn.init.normal_(block.attn.proj.weight, mean=0.0, std=resid_std)
            nn.init.normal_(block.mlp.proj.weight, mean=0.0, std=resid_std)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Token ids (batch, seq) -> logits (batch, seq, vocab_size); with ``targets`` (batch, seq),
        the mean next-token cross-entropy instead.

        Computing the loss here lets torch.compile fuse the output layer's float32 up-cast into the
        log-softmax, so float32 logits (the largest tensor of a step) are never written out.
        With a ``cache`` (generation), ``idx`` holds only the new tokens, placed after the cached ones.
        """
        seq = idx.size(1)
        start = cache.length if cache is not None else 0
        if start + seq > self.cfg.context_length:
            raise ValueError(
                f"sequence of {start + seq} tokens is longer than model.context_length={self.cfg.context_length}"
            )
        pos = torch.arange(start, start + seq, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.length += seq
        h = self.ln_f(x)
        if targets is not None and self.cfg.fused_loss and torch.is_grad_enabled():
            return linear_cross_entropy(
                h.reshape(-1, h.size(-1)),
                self.lm_head.weight,
                targets.reshape(-1),
                self.cfg.vocab_size,
            )
        logits = self.lm_head(h)
        # padded vocabulary rows are not tokens: drop them so they are never predicted or sampled
        if self.cfg.padded_vocab_size != self.cfg.vocab_size:
            logits = logits[..., : self.cfg.vocab_size]
        if targets is None:
            return logits
        return cross_entropy(logits, targets)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once (tied weights are shared); optionally without position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.pos_emb.weight.numel()
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward), PaLM appendix B, as nanoGPT counts them."""
        c = self.cfg
        return (
            6 * self.num_parameters(non_embedding=True)
            + 12 * c.n_layers * c.emb_dim * c.context_length
        )


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
