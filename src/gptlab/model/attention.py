"""Attention for the GPT: the key/value cache of generation, rotary positions, and causal
self-attention (multi-head or grouped-query, optionally with QK-norm, value embeddings and a
sliding window)."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.model.config import GPTConfig


class KVCache:
    """Keys and values of every layer for incremental decoding: each new token attends to the
    cached ones instead of recomputing the whole prefix. Grouped-query attention caches only its
    ``n_kv_heads`` heads."""

    def __init__(
        self, cfg: GPTConfig, batch: int, device: torch.device, dtype: torch.dtype
    ) -> None:
        shape = (batch, cfg.kv_heads, cfg.context_length, cfg.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0  # positions filled
        self.capacity = cfg.context_length


class Rotary(nn.Module):
    """Rotary position embedding (RoFormer), in the half-split layout Hugging Face's Llama uses:
    the first and second halves of each head form the rotated pairs."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        cos, sin = self.tables(cfg)
        # not saved in checkpoints: derived from the config
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    @staticmethod
    def tables(
        cfg: GPTConfig, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, ...]:
        """The cosines and sines of every position's angles, (context_length, head_dim)."""
        half = cfg.head_dim // 2
        arange = partial(torch.arange, dtype=torch.float64, device=device)
        inv_freq = cfg.rope_theta ** (-arange(half) / half)
        angles = torch.outer(arange(cfg.context_length), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos().float(), angles.sin().float()

    def forward(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """x (batch, seq, heads, head_dim) at positions start, start + 1, ..."""
        seq = x.size(1)
        cos = self.cos[start : start + seq, None].to(x.dtype)  # (seq, 1, head_dim)
        sin = self.sin[start : start + seq, None].to(x.dtype)
        first, second = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-second, first], dim=-1) * sin


def window_mask(
    queries: int, start: int, window: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """(queries, start + queries) bool: query ``start + i`` sees key ``j`` when ``j`` is at most
    ``window - 1`` positions before it. ``window`` is a 0-d tensor, so a schedule that changes it
    between steps changes no compiled graph."""
    q = torch.arange(start, start + queries, device=device)[:, None]
    k = torch.arange(start + queries, device=device)[None, :]
    return (k <= q) & (q - k < window)


class CausalSelfAttention(nn.Module):
    """Multi-head (or grouped-query) causal attention. ``value_embed``: this layer's values are
    a learned mix of its own and a token-indexed table's (:attr:`GPTConfig.value_embeds`)."""

    def __init__(self, cfg: GPTConfig, value_embed: bool = False) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.kv_heads, cfg.head_dim
        self.drop_rate = cfg.drop_rate
        # one matrix for query, key and value: one large matmul is faster than three small ones
        qkv_dim = (cfg.n_heads + 2 * cfg.kv_heads) * cfg.head_dim
        self.qkv = nn.Linear(cfg.emb_dim, qkv_dim, bias=cfg.qkv_bias)
        self.proj = nn.Linear(cfg.emb_dim, cfg.emb_dim, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.drop_rate)
        self.q_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else None
        self.k_norm = nn.RMSNorm(cfg.head_dim, eps=cfg.norm_eps) if cfg.qk_norm else None
        # the weights of (own values, table values); reset_parameters starts them at 0.5 each
        self.value_mix = nn.Parameter(torch.empty(2)) if value_embed else None
        self.window_kernel = None  # another way of windowed attention (GPT.use_window_kernel)

    def forward(
        self,
        x: torch.Tensor,
        rotary: Rotary | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        value_embed: torch.Tensor | None = None,
        window_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``window_mask``: which keys each query sees (sliding-window attention,
        :func:`window_mask`), in place of the causal mask."""
        batch, seq, emb = x.shape
        kv_dim = self.n_kv_heads * self.head_dim
        q, k, v = self.qkv(x).split([emb, kv_dim, kv_dim], dim=2)
        if self.value_mix is not None and value_embed is not None:
            v = self.value_mix[0] * v + self.value_mix[1] * value_embed
        q = q.view(batch, seq, self.n_heads, self.head_dim)
        k = k.view(batch, seq, self.n_kv_heads, self.head_dim)
        v = v.view(batch, seq, self.n_kv_heads, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        start = cache.length if cache is not None else 0
        if rotary is not None:
            q, k = rotary(q, start), rotary(k, start)
        # (batch, seq, heads, head_dim) -> (batch, heads, seq, head_dim) only now, as views: the
        # norms and rotations above write (and their gradients read) the layout the projection
        # made. Rotating after the transpose made Inductor's kernel for the gradient write across
        # the transpose: 7.8 of a 69.6 ms step of Llama 124M on an H200 (docs/performance.md).
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        mask, causal = None, True
        if cache is not None:
            cache.keys[layer][:, :, start : start + seq] = k
            cache.values[layer][:, :, start : start + seq] = v
            k = cache.keys[layer][:, :, : start + seq]
            v = cache.values[layer][:, :, : start + seq]
            if start:  # new queries see every cached position and the causal part of their own
                mask = torch.ones(seq, start + seq, dtype=torch.bool, device=x.device).tril(start)
                causal = False
        if window_mask is not None:
            if self.window_kernel is not None:  # e.g. FlexAttention, chosen by the run
                gqa = self.n_kv_heads != self.n_heads
                return self._project(self.window_kernel.attend(q, k, v, window_mask, gqa),
                                     batch, seq, emb)  # fmt: skip
            mask, causal = window_mask, False
        # scaled_dot_product_attention picks flash / cuDNN / memory-efficient kernels where it can
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.drop_rate if self.training else 0.0,
            is_causal=causal,
            enable_gqa=self.n_kv_heads != self.n_heads,
        )
        return self._project(y, batch, seq, emb)

    def _project(self, y: torch.Tensor, batch: int, seq: int, emb: int) -> torch.Tensor:
        y = y.transpose(1, 2).contiguous().view(batch, seq, emb)
        return self.resid_drop(self.proj(y))
