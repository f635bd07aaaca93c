import torch

from gptlab.generate import generate, sample_text
from gptlab.model import GPT, GPTConfig


def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(context_length=8, emb_dim=32, n_heads=2, n_layers=1, drop_rate=0.0)).eval()


def test_greedy_is_deterministic_and_crops_to_context():
    gpt = model()
    idx = torch.randint(0, 50000, (2, 12))  # longer than the context: cropped
    a = generate(gpt, idx, 5, temperature=0, stop_token=None)
    b = generate(gpt, idx, 5, temperature=0, stop_token=None)
    assert a.shape == (2, 17)
    assert torch.equal(a, b)
    assert torch.equal(a[:, :12], idx)


def test_stops_at_end_of_text():
    gpt = model()
    idx = torch.zeros(1, 3, dtype=torch.long)
    first = generate(gpt, idx, 1, temperature=0, stop_token=None)[0, -1].item()
    out = generate(gpt, idx, 10, temperature=0, stop_token=first)
    assert out.shape[1] == 4


def test_sample_text_starts_with_the_prompt():
    text = sample_text(model(), "Hello", max_new_tokens=3, seed=1)
    assert text.startswith("Hello")
    assert text == sample_text(model(), "Hello", max_new_tokens=3, seed=1)
