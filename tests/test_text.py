"""Text in, text out: the prompt encoded, the continuation decoded, seeded."""

import torch

from gptlab.model import GPT, GPTConfig
from gptlab.text import sample_text


def model() -> GPT:
    torch.manual_seed(0)
    return GPT(
        GPTConfig(context_length=16, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0)
    ).eval()


def test_sample_text_starts_with_the_prompt_and_is_seeded():
    text = sample_text(model(), "Hello", max_new_tokens=3, seed=1)
    assert text.startswith("Hello")
    assert text == sample_text(model(), "Hello", max_new_tokens=3, seed=1)
