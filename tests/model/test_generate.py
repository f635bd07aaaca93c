import pytest
import torch

from gptlab.model import GPT, GPTConfig
from gptlab.model.generate import generate, next_token


def model(**kwargs) -> GPT:
    torch.manual_seed(0)
    values = dict(context_length=16, emb_dim=32, n_heads=2, n_layers=2, drop_rate=0.0)
    values.update(kwargs)
    return GPT(GPTConfig(**values)).eval()


def test_greedy_is_deterministic_and_crops_to_context():
    gpt = model()
    idx = torch.randint(0, 50000, (2, 20))  # longer than the context: cropped
    a = generate(gpt, idx, 5, temperature=0, stop_token=None)
    b = generate(gpt, idx, 5, temperature=0, stop_token=None)
    assert a.shape == (2, 21)
    assert torch.equal(a, b)
    assert torch.equal(a[:, :16], idx[:, -16:])


@pytest.mark.parametrize("prompt_len", [1, 5, 15])
def test_cache_gives_the_same_greedy_tokens_as_recomputing(prompt_len):
    gpt = model()
    idx = torch.randint(0, 50000, (3, prompt_len))
    with_cache = generate(gpt, idx, 30, temperature=0, stop_token=None, use_cache=True)
    without = generate(gpt, idx, 30, temperature=0, stop_token=None, use_cache=False)
    assert torch.equal(with_cache, without)  # 30 new tokens run past the 16-token context


def test_cached_logits_match_full_forward():
    gpt = model()
    from gptlab.model import KVCache

    idx = torch.randint(0, 50000, (2, 10))
    full = gpt(idx)
    cache = KVCache(gpt.cfg, 2, torch.device("cpu"), torch.float32)
    first = gpt(idx[:, :6], cache=cache)
    rest = [gpt(idx[:, i : i + 1], cache=cache) for i in range(6, 10)]
    assert torch.allclose(torch.cat([first, *rest], dim=1), full, atol=1e-5)


def test_stops_at_end_of_text_and_streams_each_token():
    gpt = model()
    idx = torch.zeros(1, 3, dtype=torch.long)
    first = generate(gpt, idx, 1, temperature=0, stop_token=None)[0, -1].item()
    streamed = []
    out = generate(gpt, idx, 10, temperature=0, stop_token=first, on_token=streamed.append)
    assert out.shape[1] == 4
    assert [t.item() for t in streamed] == [first]


def test_padded_vocabulary_is_never_sampled():
    gpt = model(vocab_size=100, vocab_multiple=64)
    assert gpt.tok_emb.weight.shape[0] == 128
    with torch.no_grad():
        gpt.lm_head.weight[100:] = 100.0  # padded rows would win every draw if they were scored
    out = generate(gpt, torch.zeros(4, 2, dtype=torch.long), 20, temperature=1.0, stop_token=None)
    assert out.max().item() < 100


def test_top_k_and_top_p_restrict_the_draw():
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0, -1.0]])
    g = torch.Generator().manual_seed(0)
    draws_k = {next_token(logits, 1.0, top_k=2, generator=g).item() for _ in range(200)}
    assert draws_k <= {0, 1}
    draws_p = {next_token(logits, 1.0, top_p=0.5, generator=g).item() for _ in range(200)}
    assert draws_p == {0}  # the top token alone holds more than half of the mass
