"""Sampling text from a GPT."""

from __future__ import annotations

import torch

from gptlab.data.tokenizer import EOT_ID, decode, encode
from gptlab.model import GPT


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    stop_token: int | None = EOT_ID,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Append up to ``max_new_tokens`` sampled tokens to ``idx`` (batch, seq).

    temperature 0 picks the most likely token (greedy). The prefix is cropped to the model's
    context length. Stops early once every row has produced ``stop_token``.
    """
    context = model.cfg.context_length
    done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
    for _ in range(max_new_tokens):
        logits = model(idx[:, -context:])[:, -1, :]
        if temperature == 0:
            next_id = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits.float(), dim=-1)
            next_id = torch.multinomial(probs, num_samples=1, generator=generator)
        idx = torch.cat([idx, next_id], dim=1)
        if stop_token is not None:
            done |= next_id.squeeze(1) == stop_token
            if bool(done.all()):
                break
    return idx


def sample_text(
    model: GPT,
    prompt: str,
    max_new_tokens: int = 50,
    temperature: float = 0.8,
    top_k: int | None = 50,
    seed: int = 0,
) -> str:
    """Continue ``prompt`` with the model; returns the prompt and its continuation."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    idx = torch.tensor([encode(prompt)], dtype=torch.long, device=device)
    out = generate(model, idx, max_new_tokens, temperature, top_k, generator=generator)
    model.train(was_training)
    ids = [i for i in out[0].tolist() if i != EOT_ID]
    return decode(ids)
