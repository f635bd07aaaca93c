"""A GPT as a plain PyTorch module: no Lightning, no Hydra.

Read top to bottom in the order data flows: MLP, block, GPT (the attention, its positions and
generation's cache: :mod:`gptlab.model.attention`). With the default config it is GPT-2; the config's switches turn it into Llama-, Qwen3- or speedrun-style
models (see :mod:`gptlab.model.config`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gptlab.model.attention import CausalSelfAttention, KVCache, Rotary, window_mask
from gptlab.model.config import GPTConfig


def make_norm(cfg: GPTConfig, dim: int) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return nn.RMSNorm(dim, eps=cfg.norm_eps)
    return nn.LayerNorm(dim, eps=cfg.norm_eps, bias=cfg.bias)


class MLP(nn.Module):
    """GPT-2's GELU MLP, squared ReLU (Primer, the speedrun), or SwiGLU (Llama).

    SwiGLU's gate and up projections are one matrix ``fc`` of 2 x hidden_dim rows (gate first):
    one matmul instead of two.
    """

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.kind = cfg.mlp
        width = 2 * cfg.hidden_dim if cfg.mlp == "swiglu" else cfg.hidden_dim
        self.fc = nn.Linear(cfg.emb_dim, width, bias=cfg.bias)
        self.proj = nn.Linear(cfg.hidden_dim, cfg.emb_dim, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.kind == "gelu":
            h = F.gelu(h, approximate="tanh")  # GPT-2 used the tanh approximation
        elif self.kind == "relu2":
            h = F.relu(h).square()
        else:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        return self.drop(self.proj(h))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: GPTConfig, value_embed: bool = False) -> None:
        super().__init__()
        self.ln1 = make_norm(cfg, cfg.emb_dim)
        self.attn = CausalSelfAttention(cfg, value_embed)
        self.ln2 = make_norm(cfg, cfg.emb_dim)
        self.mlp = MLP(cfg)

    def forward(
        self,
        x: torch.Tensor,
        rotary: Rotary | None = None,
        cache: KVCache | None = None,
        layer: int = 0,
        value_embed: torch.Tensor | None = None,
        window: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), rotary, cache, layer, value_embed, window)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token ids -> logits. ``forward(idx, targets)`` also gives GPT-2's training loss; the steps
    are public (``hidden_states``, then ``logits``) so a faster way to compute the loss can start
    from the hidden states without changing the model."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.padded_vocab_size, cfg.emb_dim)
        self.pos_emb = (
            nn.Embedding(cfg.context_length, cfg.emb_dim) if cfg.pos_emb == "learned" else None
        )
        self.rotary = Rotary(cfg) if cfg.pos_emb == "rope" else None
        self.drop = nn.Dropout(cfg.drop_rate)
        self.blocks = nn.ModuleList(
            Block(cfg, value_embed=cfg.value_embed_of(i) is not None) for i in range(cfg.n_layers)
        )
        kv_dim = cfg.kv_heads * cfg.head_dim
        self.value_embeds = nn.ModuleList(
            nn.Embedding(cfg.padded_vocab_size, kv_dim) for _ in range(cfg.value_embeds)
        )
        # U-net skips: block i's output is added to the input of block n_layers - 1 - i
        skips = cfg.n_layers // 2 if cfg.unet_skips else 0
        self.skip_weights = nn.Parameter(torch.empty(skips)) if skips else None
        self.ln_f = make_norm(cfg, cfg.emb_dim)
        self.lm_head = nn.Linear(cfg.emb_dim, cfg.padded_vocab_size, bias=False)
        self.window_kernel = None  # use_window_kernel
        # the sliding window of the coming forward passes (set_attn_window); not in checkpoints
        window = torch.tensor(cfg.attn_window or 0)
        self.register_buffer("attn_window", window if cfg.attn_window else None, persistent=False)
        if cfg.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: normal(0, init_std) for weights, zeros for biases, ones for norms;
        residual output projections scaled by 1/sqrt(2 n_layers) so the residual stream's variance
        does not grow with depth (two additions per block), or zero with ``zero_init_proj``."""
        std = self.cfg.init_std
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, (nn.LayerNorm, nn.RMSNorm)):
                module.reset_parameters()
            if isinstance(module, CausalSelfAttention) and module.value_mix is not None:
                nn.init.constant_(module.value_mix, 0.5)
        if self.skip_weights is not None:
            nn.init.ones_(self.skip_weights)
        resid_std = std / math.sqrt(2 * self.cfg.n_layers)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.proj):
                if self.cfg.zero_init_proj:
                    nn.init.zeros_(proj.weight)
                else:
                    nn.init.normal_(proj.weight, mean=0.0, std=resid_std)

    def use_window_kernel(self, kernel: object | None) -> None:
        """Windowed attention another way (a run's kernel, such as FlexAttention):
        ``kernel.mask(queries, start, window, device)`` gives each forward pass's mask,
        ``kernel.attend(q, k, v, mask, gqa)`` attends under it; None: PyTorch's attention with a
        dense mask again."""
        self.window_kernel = kernel
        for block in self.blocks:
            block.attn.window_kernel = kernel

    def set_attn_window(self, tokens: int) -> None:
        """Attend over a window of ``tokens`` positions from now on, at most ``model.attn_window``
        (a run's window schedule grows it); in place, so compiled graphs stay as they are."""
        if self.attn_window is None:
            raise ValueError("set_attn_window needs a model with model.attn_window set")
        self.attn_window.fill_(max(1, min(int(tokens), self.cfg.attn_window)))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ) -> torch.Tensor:
        """Token ids (batch, seq) -> logits (batch, seq, vocab_size); with ``targets`` (batch, seq),
        the mean next-token cross-entropy instead.

        Under torch.compile the loss computed here fuses the output layer's float32 up-cast into
        the log-softmax, so float32 logits (the largest tensor of a step) are never written out.
        With a ``cache`` (generation), ``idx`` holds only the new tokens, placed after the cached ones.
        """
        logits = self.logits(self.hidden_states(idx, cache))
        if targets is None:
            return logits
        return cross_entropy(logits, targets)

    def hidden_states(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (batch, seq) -> the final norm's output (batch, seq, emb_dim)."""
        seq = idx.size(1)
        start = cache.length if cache is not None else 0
        if start + seq > self.cfg.context_length:
            raise ValueError(
                f"sequence of {start + seq} tokens is longer than model.context_length={self.cfg.context_length}"
            )
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(start, start + seq, device=idx.device))
        x = self.drop(x)
        window = None
        if self.attn_window is not None:  # one mask for every layer
            make = window_mask if self.window_kernel is None else self.window_kernel.mask
            window = make(seq, start, self.attn_window, idx.device)
        n, outputs = self.cfg.n_layers, []
        skips = 0 if self.skip_weights is None else self.skip_weights.numel()
        for layer, block in enumerate(self.blocks):
            if layer >= n - skips:  # the second half takes the first half's outputs, mirrored
                x = x + self.skip_weights[layer - (n - skips)] * outputs.pop()
            table = self.cfg.value_embed_of(layer)
            value_embed = self.value_embeds[table](idx) if table is not None else None
            x = block(x, self.rotary, cache, layer, value_embed, window)
            if layer < skips:
                outputs.append(x)
        if cache is not None:
            cache.length += seq
        return self.ln_f(x)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden states -> logits over the real vocabulary (padded rows are never predicted or
        sampled), soft-capped when ``logit_softcap`` is set."""
        logits = self.lm_head(h)
        if self.cfg.padded_vocab_size != self.cfg.vocab_size:
            logits = logits[..., : self.cfg.vocab_size]
        if self.cfg.logit_softcap is not None:
            cap = self.cfg.logit_softcap
            logits = cap * torch.tanh(logits.float() / cap)
        return logits

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Parameters counted once (tied weights are shared); optionally without position embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.pos_emb is not None:
            n -= self.pos_emb.weight.numel()
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token (forward + backward), PaLM appendix B: 6 x the weights of every
        matrix product (the output head once, tied or not; embedding lookups and norms are not
        matrix products) + 12 L H Q T for attention. With GQA the smaller K/V projection counts
        less; SwiGLU's third matrix counts; with tied weights it equals nanoGPT's 6N + 12LHQT up
        to norms and biases."""
        c = self.cfg
        matmul_weights = sum(
            module.weight.numel() for module in self.modules() if isinstance(module, nn.Linear)
        )
        return 6 * matmul_weights + 12 * c.n_layers * c.n_heads * c.head_dim * c.context_length


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over every position; logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
