"""Sampling text from a GPT, with a key/value cache."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gptlab.model.gpt import GPT, KVCache


def next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One token id per row from the last position's logits (batch, vocab); temperature 0 = greedy."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        drop = (
            cumulative - torch.softmax(sorted_logits, dim=-1) > top_p
        )  # keep the first past top_p
        logits = logits.scatter(1, order, sorted_logits.masked_fill(drop, float("-inf")))
    return torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1, generator=generator)


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_token: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    on_token: Callable[[torch.Tensor], None] | None = None,
    stop: Callable[[torch.Tensor], bool] | None = None,
) -> torch.Tensor:
    """Append up to ``max_new_tokens`` sampled tokens to ``idx`` (batch, seq).

    The prompt is cropped to the model's context. With ``use_cache`` each step feeds only the new
    token; once the context is full the cache is rebuilt from the last context_length tokens at
    every step (learned positions cannot slide), which gives what recomputing would. Stops once every
    row has produced ``stop_token``, or when ``stop(idx)`` says so (e.g. a stop string appeared);
    ``on_token`` receives each new column (for streaming).
    """
    context = model.cfg.context_length
    idx = idx[:, -context:]
    done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
    param = next(model.parameters())
    # .forward, not __call__: a model compiled in place for training would recompile for every
    # new sequence length
    forward = model.forward
    cache: KVCache | None = None
    for _ in range(max_new_tokens):
        if not use_cache:
            logits = forward(idx[:, -context:])
        else:
            if cache is None or cache.length >= context:  # first step, or no room left
                cache = KVCache(model.cfg, idx.size(0), param.device, param.dtype)
                logits = forward(idx[:, -context:], cache=cache)
            else:
                logits = forward(idx[:, -1:], cache=cache)
        token = next_token(logits[:, -1, :], temperature, top_k, top_p, generator)
        if stop_token is not None:
            token = token.masked_fill(done.unsqueeze(1), stop_token)  # finished rows stay finished
            done |= token.squeeze(1) == stop_token
        idx = torch.cat([idx, token], dim=1)
        if on_token is not None:
            on_token(token)
        if stop_token is not None and bool(done.all()):
            break
        if stop is not None and stop(idx):
            break
    return idx
