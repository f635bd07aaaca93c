import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.model import GPT, GPTConfig, cross_entropy


def tiny_config(**overrides) -> GPTConfig:
    values = dict(
        vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0
    )
    values.update(overrides)
    return GPTConfig(**values)


def test_gpt2_124m_parameter_counts():
    assert GPT(GPTConfig()).num_parameters() == 124_412_160  # tied head, no QKV bias
    assert GPT(GPTConfig(tie_weights=False)).num_parameters() == 163_009_536
    assert GPT(GPTConfig(qkv_bias=True)).num_parameters() == 124_439_808  # OpenAI's weights


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


def test_flops_per_token_follows_palm():
    cfg = GPTConfig()
    model = GPT(cfg)
    n = 124_412_160 - 1024 * 768  # without position embeddings
    assert model.flops_per_token() == 6 * n + 12 * 12 * 768 * 1024
