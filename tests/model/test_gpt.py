import re

import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.model import GPT, GPTConfig
from gptlab.model.gpt import cross_entropy


def tiny_config(**overrides) -> GPTConfig:
    values = dict(
        vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0
    )
    values.update(overrides)
    return GPTConfig(**values)


def meta_gpt(cfg: GPTConfig) -> GPT:
    """A model without memory or initialisation: enough to count parameters, and fast."""
    with torch.device("meta"):
        return GPT(cfg)


def test_gpt2_124m_parameter_counts():
    assert meta_gpt(GPTConfig()).num_parameters() == 124_412_160  # tied head, no QKV bias
    assert meta_gpt(GPTConfig(tie_weights=False)).num_parameters() == 163_009_536
    assert meta_gpt(GPTConfig(qkv_bias=True)).num_parameters() == 124_439_808  # OpenAI's weights


def test_hidden_dim_defaults_to_four_times_emb_dim():
    assert tiny_config().hidden_dim == 128
    model = GPT(tiny_config(hidden_dim=48))
    assert model.blocks[0].mlp.fc.out_features == 48


def test_output_shape_and_loss():
    model = GPT(tiny_config())
    idx = torch.randint(0, 97, (3, 16))
    logits = model(idx)
    assert logits.shape == (3, 16, 97)
    loss = model(idx, targets=idx)
    assert loss.item() == pytest.approx(cross_entropy(logits, idx).item(), rel=1e-6)
    # a freshly initialised model is close to uniform over the vocabulary
    assert abs(loss.item() - torch.log(torch.tensor(97.0)).item()) < 0.5


def test_shorter_sequences_work_and_longer_are_refused():
    model = GPT(tiny_config())
    assert model(torch.zeros(1, 5, dtype=torch.long)).shape == (1, 5, 97)
    with pytest.raises(ValueError, match="context_length=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_causality_future_tokens_do_not_change_past_logits():
    torch.manual_seed(0)
    model = GPT(tiny_config()).eval()
    idx = torch.randint(0, 97, (1, 16))
    changed = idx.clone()
    t = 9
    changed[0, t] = (idx[0, t] + 1) % 97
    before, after = model(idx), model(changed)
    assert torch.allclose(before[:, :t], after[:, :t], atol=1e-6)
    assert not torch.allclose(before[:, t:], after[:, t:], atol=1e-6)


def test_tied_head_shares_the_embedding():
    model = GPT(tiny_config())
    assert model.lm_head.weight is model.tok_emb.weight
    untied = GPT(tiny_config(tie_weights=False))
    assert untied.lm_head.weight is not untied.tok_emb.weight


def test_padded_vocabulary_rows_are_never_predicted():
    model = GPT(tiny_config(vocab_multiple=64))
    assert model.tok_emb.weight.shape[0] == 128
    assert model(torch.zeros(2, 4, dtype=torch.long)).shape[-1] == 97


def test_gpt2_initialisation():
    torch.manual_seed(0)
    cfg = GPTConfig(n_layers=12)
    model = GPT(cfg)
    assert model.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    residual_std = 0.02 / (2 * cfg.n_layers) ** 0.5
    assert model.blocks[0].mlp.proj.weight.std().item() == pytest.approx(residual_std, rel=0.05)
    assert torch.all(model.blocks[0].mlp.fc.bias == 0)


def test_qkv_bias_switch():
    assert GPT(tiny_config(qkv_bias=False)).blocks[0].attn.qkv.bias is None
    assert GPT(tiny_config(qkv_bias=True)).blocks[0].attn.qkv.bias is not None


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"emb_dim": 100, "n_heads": 12}, "model.emb_dim=100"),
        ({"drop_rate": -0.1}, "model.drop_rate"),
        ({"drop_rate": 1.0}, "model.drop_rate"),
        ({"n_layers": 0}, "model.n_layers"),
        ({"context_length": -5}, "model.context_length"),
        ({"vocab_multiple": 0}, "model.vocab_multiple"),
    ],
)
def test_impossible_configs_name_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        tiny_config(**overrides)


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="model.n_layer "):
        GPTConfig.from_dict({"n_layer": 2})


def expected_parameters(c: GPTConfig) -> int:
    """The parameter count formula of the README's model table."""
    d, hd, L = c.emb_dim, c.head_dim, c.n_layers
    qkv_out = (c.n_heads + 2 * c.kv_heads) * hd
    norm = d if c.norm == "rmsnorm" else d * (2 if c.bias else 1)
    mats = 3 if c.mlp == "swiglu" else 2
    mlp = mats * d * c.hidden_dim + (((mats - 1) * c.hidden_dim + d) if c.bias else 0)
    attn = d * qkv_out + (qkv_out if c.qkv_bias else 0) + d * d + (d if c.bias else 0)
    block = attn + mlp + 2 * norm + (2 * hd if c.qk_norm else 0)
    embeddings = c.padded_vocab_size * d * (1 if c.tie_weights else 2)
    positions = c.context_length * d if c.pos_emb == "learned" else 0
    # value embeddings: a table of K/V width each, and two mixing weights in each layer it feeds
    values = c.value_embeds * (c.padded_vocab_size * c.kv_heads * hd + 2 * 2)
    skips = L // 2 if c.unet_skips else 0
    return embeddings + positions + L * block + norm + values + skips


SWITCHES = [
    {},
    {"pos_emb": "rope"},
    {"norm": "rmsnorm"},
    {"bias": False},
    {"mlp": "relu2"},
    {"mlp": "swiglu"},
    {"qk_norm": True},
    {"n_kv_heads": 2},
    {"n_kv_heads": 1, "pos_emb": "rope"},
    {"logit_softcap": 15.0},
    {"tie_weights": False, "zero_init_proj": True},
    {"qkv_bias": True, "bias": False, "norm": "rmsnorm"},
    {
        "pos_emb": "rope",
        "norm": "rmsnorm",
        "mlp": "swiglu",
        "bias": False,
        "tie_weights": False,
        "n_kv_heads": 2,
        "qk_norm": True,
    },
    {"value_embeds": 1},
    {"unet_skips": True},
    {"value_embeds": 1, "unet_skips": True, "n_kv_heads": 2, "pos_emb": "rope", "mlp": "relu2"},
    {"attn_window": 5, "pos_emb": "rope", "n_kv_heads": 2},
]


@pytest.mark.parametrize("switches", SWITCHES, ids=[str(s) for s in SWITCHES])
def test_every_switch_trains_counts_and_caches(switches):
    torch.manual_seed(0)
    cfg = tiny_config(**switches)
    model = GPT(cfg)
    assert model.num_parameters() == expected_parameters(cfg)
    idx = torch.randint(0, 97, (2, 16))
    loss = model(idx, idx)
    loss.backward()
    assert torch.isfinite(loss) and all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters()
    )
    # the key/value cache gives the logits of the full forward (RoPE offsets, GQA's K/V heads)
    model.eval()
    from gptlab.model import KVCache

    with torch.no_grad():
        full = model(idx)
        cache = KVCache(cfg, 2, torch.device("cpu"), torch.float32)
        parts = [model(idx[:, :7], cache=cache)]
        parts += [model(idx[:, i : i + 1], cache=cache) for i in range(7, 16)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-4)


def test_gpt2_sizes_of_the_presets():
    gpt2 = meta_gpt(GPTConfig())
    assert gpt2.num_parameters() == expected_parameters(GPTConfig()) == 124_412_160


def test_switches_change_what_they_say():
    rope = GPT(tiny_config(pos_emb="rope"))
    assert rope.pos_emb is None and rope.rotary is not None
    assert GPT(tiny_config(mlp="swiglu")).cfg.hidden_dim == 128  # 8/3 * 32 -> 64 * ceil(85.3/64)
    assert GPTConfig(emb_dim=768, mlp="swiglu").hidden_dim == 2048
    assert GPT(tiny_config(zero_init_proj=True)).blocks[0].mlp.proj.weight.abs().sum() == 0
    capped = GPT(tiny_config(logit_softcap=2.0)).eval()
    assert capped(torch.randint(0, 97, (1, 8))).abs().max() <= 2.0
    # value embeddings: the first and last layers mix a token's table row into their values
    cfg = GPTConfig(vocab_size=97, context_length=8, emb_dim=32, n_heads=4, n_layers=4,
                    drop_rate=0.0, value_embeds=1, unet_skips=True)  # fmt: skip
    assert [cfg.value_embed_of(i) for i in range(4)] == [0, None, None, 0]
    mixed = GPT(cfg)
    assert [b.attn.value_mix is not None for b in mixed.blocks] == [True, False, False, True]
    assert mixed.skip_weights.tolist() == [1.0, 1.0]  # 2 skips: block 0 -> 3, block 1 -> 2
    idx = torch.randint(0, 97, (1, 8))
    before = mixed(idx)
    with torch.no_grad():
        mixed.value_embeds[0].weight.zero_()
        mixed.skip_weights.zero_()
        for block in (mixed.blocks[0], mixed.blocks[3]):
            block.attn.value_mix.copy_(torch.tensor([1.0, 0.0]))
    plain = GPT(tiny_config(n_layers=4, context_length=8))
    plain.load_state_dict(mixed.state_dict(), strict=False)
    torch.testing.assert_close(mixed(idx), plain(idx))  # with the mix off: a plain GPT
    assert not torch.allclose(before, plain(idx))
    gqa = GPT(tiny_config(n_kv_heads=1))
    assert gqa.blocks[0].attn.qkv.out_features == 32 + 2 * 8  # 4 query heads, 1 K/V head of 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pos_emb": "alibi"}, "model.pos_emb='alibi' must be one of ['learned', 'rope']"),
        ({"norm": "batchnorm"}, "model.norm='batchnorm'"),
        ({"mlp": "geglu"}, "model.mlp='geglu' must be one of ['gelu', 'relu2', 'swiglu']"),
        ({"n_kv_heads": 3}, "model.n_kv_heads=3 must divide model.n_heads=4"),
        ({"logit_softcap": -1.0}, "model.logit_softcap=-1.0 must be > 0 or null"),
        ({"qk_norm": "yes"}, "model.qk_norm='yes' must be true or false"),
        ({"rope_theta": 0}, "model.rope_theta=0 must be a number > 0"),
        ({"value_embeds": 2}, "model.value_embeds=2 must be an integer from 0 to model.n_layers/2"),
        ({"unet_skips": 1}, "model.unet_skips=1 must be true or false"),
        ({"attn_window": 0}, "model.attn_window=0 must be a positive integer"),
    ],
)
def test_switch_values_are_checked(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny_config(**overrides)


@pytest.mark.parametrize(
    "switches", [{}, {"mlp": "swiglu", "n_kv_heads": 2, "tie_weights": False, "pos_emb": "rope"}]
)
def test_flops_per_token_equals_torchs_flop_counter(switches):
    """6 x matmul weights + 12 L H Q T, against torch's count of a forward and backward pass."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    cfg = tiny_config(**switches)
    model = GPT(cfg)
    idx = torch.randint(0, 97, (2, cfg.context_length))
    # the math attention (two batched matmuls) is what the counter can count on a CPU
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(idx, idx).backward()
    assert counter.get_total_flops() == model.flops_per_token() * idx.numel()


def test_a_sliding_window_hides_what_lies_before_it():
    torch.manual_seed(0)
    windowed = GPT(tiny_config(attn_window=4, n_layers=2, pos_emb="rope")).eval()
    idx = torch.randint(0, 97, (1, 16))
    changed = idx.clone()
    changed[:, :3] = (changed[:, :3] + 1) % 97
    with torch.no_grad():
        before, after = windowed(idx), windowed(changed)
    # two layers of a 4-token window reach 6 positions back: position 9 on do not see 0-2
    torch.testing.assert_close(after[:, 9:], before[:, 9:])
    assert not torch.allclose(after[:, 3:6], before[:, 3:6])
    # a window as long as the context is plain causal attention
    whole = GPT(tiny_config(attn_window=16, n_layers=2, pos_emb="rope")).eval()
    plain = GPT(tiny_config(n_layers=2, pos_emb="rope")).eval()
    plain.load_state_dict(whole.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(whole(idx), plain(idx))
    # a schedule narrows it in place (compiled graphs read the buffer), never past the config's
    windowed.set_attn_window(2)
    with torch.no_grad():
        narrower = windowed(idx)
    assert not torch.allclose(narrower, before)
    windowed.set_attn_window(1000)
    assert int(windowed.attn_window) == 4 and "attn_window" not in windowed.state_dict()
    with torch.no_grad():
        torch.testing.assert_close(windowed(idx), before)
    with pytest.raises(ValueError, match="needs a model with model.attn_window"):
        plain.set_attn_window(4)
