"""Text in, text out: GPT-2's tokenizer around :func:`gptlab.model.generate.generate`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gptlab.data.tokenizer import EOT_ID, decode, encode
from gptlab.model.generate import generate
from gptlab.model.gpt import GPT


def sample_text(
    model: GPT,
    prompt: str,
    max_new_tokens: int = 50,
    temperature: float = 0.8,
    top_k: int | None = 50,
    top_p: float | None = None,
    seed: int = 0,
) -> str:
    """Continue ``prompt`` with the model; returns the prompt and its continuation."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    # an empty prompt starts from <|endoftext|>, as GPT-2's unconditional samples do
    idx = torch.tensor([encode(prompt) or [EOT_ID]], dtype=torch.long, device=device)
    out = generate(
        model,
        idx,
        max_new_tokens,
        temperature,
        top_k,
        top_p,
        stop_token=EOT_ID,
        generator=generator,
    )
    model.train(was_training)
    return decode([i for i in out[0].tolist() if i != EOT_ID])


class TextStream:
    """Writes generated text as it grows, whole characters only: a character whose UTF-8 bytes are
    split across tokens (common for CJK text and emoji) is held back until its last byte arrives."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.ids: list[int] = []
        self.shown = 0  # characters written so far

    def add(self, token_id: int) -> None:
        if token_id == EOT_ID:
            return
        self.ids.append(token_id)
        text = decode(self.ids)
        complete = len(text.rstrip("\ufffd"))  # trailing U+FFFD: an unfinished character
        if complete > self.shown:
            self.write(text[self.shown : complete])
            self.shown = complete
