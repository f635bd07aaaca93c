"""Hugging Face GPT-2 interop: logits and greedy tokens equal in both directions."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from gptlab.checkpoints.reader import CheckpointError  # noqa: E402
from gptlab.checkpoints.weights import (  # noqa: E402
    initial_weights,
    load_weights_into,
    model_from_checkpoint,
)
from gptlab.interop.hf import HFFormatError, load_hf, save_hf  # noqa: E402
from gptlab.model import GPT, GPTConfig  # noqa: E402
from gptlab.model.generate import generate  # noqa: E402

VOCAB, CONTEXT = 1000, 32


def hf_model(**kwargs) -> transformers.GPT2LMHeadModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=CONTEXT, n_embd=64, n_layer=2, n_head=4, **kwargs
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():  # biases are zero at init: make them matter
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return model


def tokens() -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, CONTEXT), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("safe", [True, False])
def test_import_gives_the_same_logits(tmp_path, safe):
    reference = hf_model()
    reference.save_pretrained(tmp_path, safe_serialization=safe)
    config, state = load_hf(tmp_path)
    assert config.qkv_bias and config.tie_weights
    ours = GPT(config).eval()
    ours.load_state_dict(state)
    with torch.no_grad():
        diff = (ours(tokens()) - reference(tokens()).logits).abs().max().item()
    assert diff < 1e-4


def test_export_loads_in_transformers_with_the_same_logits(tmp_path):
    torch.manual_seed(0)
    ours = GPT(
        GPTConfig(
            vocab_size=VOCAB,
            context_length=CONTEXT,
            emb_dim=64,
            n_heads=4,
            n_layers=2,
            drop_rate=0.0,
            vocab_multiple=64,
        )
    ).eval()  # no QKV bias, padded rows
    save_hf(ours, tmp_path)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        diff = (ours(tokens()) - theirs(tokens()).logits).abs().max().item()
    assert diff < 1e-4
    assert (tmp_path / "tokenizer_config.json").is_file()
    # files others can read (not 0600), and the generation settings transformers reads
    for name in ("model.safetensors", "config.json", "vocab.json"):
        assert (tmp_path / name).stat().st_mode & 0o044 == 0o044, name
    generation = transformers.GenerationConfig.from_pretrained(tmp_path)
    assert generation.eos_token_id == 50256 and generation.pad_token_id == 50256


def test_an_export_replaces_no_file_unless_forced(tmp_path):
    """The folder may hold other files; one the export would write stops it, named, unless
    --force; a regular file as the folder is one line too."""
    from gptlab.commands.export import main

    torch.manual_seed(0)
    model = GPT(
        GPTConfig(vocab_size=VOCAB, context_length=CONTEXT, emb_dim=32, n_heads=2, n_layers=1)
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "config.json").write_text("the user's own")
    (tmp_path / "out" / "notes.txt").write_text("kept")
    with pytest.raises(
        HFFormatError,
        match=r"already holds config.json, which the export would replace; .* --force",
    ):
        save_hf(model, tmp_path / "out")
    assert (tmp_path / "out" / "config.json").read_text() == "the user's own"
    save_hf(model, tmp_path / "out", force=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "kept"
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "gpt2"
    (tmp_path / "file").write_text("")
    with pytest.raises(HFFormatError, match="is a file; give a folder"):
        save_hf(model, tmp_path / "file")
    assert main([str(tmp_path / "missing.ckpt"), str(tmp_path / "x")]) == 2


def test_greedy_generation_matches_transformers(tmp_path):
    reference = hf_model()
    reference.save_pretrained(tmp_path)
    config, state = load_hf(tmp_path)
    ours = GPT(config).eval()
    ours.load_state_dict(state)
    prompt = tokens()[:1, :5]
    theirs = reference.generate(
        prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    mine = generate(ours, prompt, 12, temperature=0, stop_token=None)
    assert torch.equal(mine, theirs)


def test_untied_head_round_trips(tmp_path):
    reference = hf_model(tie_word_embeddings=False)
    reference.save_pretrained(tmp_path / "a")
    config, state = load_hf(tmp_path / "a")
    assert not config.tie_weights
    ours = GPT(config).eval()
    ours.load_state_dict(state)
    save_hf(ours, tmp_path / "b")
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "b").eval()
    with torch.no_grad():
        assert (again(tokens()).logits - reference(tokens()).logits).abs().max() < 1e-4


def test_init_from_continues_from_imported_weights_and_names_mismatches(tmp_path):
    reference = hf_model()
    reference.save_pretrained(tmp_path)
    arch = dict(
        vocab_size=VOCAB, context_length=CONTEXT, emb_dim=64, n_heads=4, n_layers=2, drop_rate=0.0
    )

    def start_from(source: str, **values) -> GPT:
        """A model with the weights ``init_from=source`` gives a run."""
        model = GPT(GPTConfig(**values))
        load_weights_into(model, initial_weights(source, model.cfg), f"init_from={source}")
        return model.eval()

    model = start_from(str(tmp_path), **arch, qkv_bias=True)
    with torch.no_grad():
        assert (model(tokens()) - reference(tokens()).logits).abs().max() < 1e-4
    shorter = start_from(str(tmp_path), **{**arch, "context_length": 16}, qkv_bias=True)
    with torch.no_grad():
        short = tokens()[:, :16]
        assert (shorter(short) - reference(short).logits).abs().max() < 1e-4
    with pytest.raises(
        CheckpointError,
        match="model.qkv_bias=True, but this run has model.qkv_bias=False; set model.qkv_bias=True",
    ):
        start_from(str(tmp_path), **arch)


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(HFFormatError, match="no such folder"):
        load_hf(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    with pytest.raises(HFFormatError, match="no config.json"):
        load_hf(tmp_path / "x")
    reference = hf_model()
    reference.save_pretrained(tmp_path / "y")
    from safetensors.torch import load_file, save_file

    weights = load_file(str(tmp_path / "y" / "model.safetensors"))
    weights["transformer.h.1.mlp.c_fc.weight"] = weights["transformer.h.1.mlp.c_fc.weight"][
        :, :10
    ].contiguous()
    save_file(weights, str(tmp_path / "y" / "model.safetensors"))
    with pytest.raises(HFFormatError, match="h.1.mlp.c_fc.weight has shape"):
        load_hf(tmp_path / "y")


def test_model_from_checkpoint_refuses_missing_and_corrupt_files(tmp_path):
    from gptlab.errors import GptlabError

    with pytest.raises(GptlabError, match="does not exist"):
        model_from_checkpoint(tmp_path / "nope.ckpt")
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(GptlabError, match="not a readable gptlab checkpoint"):
        model_from_checkpoint(tmp_path / "bad.ckpt")


LLAMA = dict(
    vocab_size=VOCAB,
    context_length=CONTEXT,
    emb_dim=64,
    n_heads=4,
    n_layers=2,
    drop_rate=0.0,
    pos_emb="rope",
    norm="rmsnorm",
    mlp="swiglu",
    bias=False,
    rope_theta=500.0,
    norm_eps=1e-6,
)


def random_norms(model: GPT) -> GPT:
    with torch.no_grad():  # norms start at one: make them matter
        for name, p in model.named_parameters():
            if "ln" in name or "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize(
    ("extra", "architecture"),
    [
        ({}, "LlamaForCausalLM"),
        ({"n_kv_heads": 2, "tie_weights": False, "vocab_multiple": 64}, "LlamaForCausalLM"),
        ({"qk_norm": True, "n_kv_heads": 1}, "Qwen3ForCausalLM"),
    ],
)
def test_llama_and_qwen3_shapes_round_trip_with_the_same_logits_and_tokens(
    tmp_path, extra, architecture
):
    torch.manual_seed(0)
    ours = random_norms(GPT(GPTConfig(**LLAMA, **extra))).eval()
    save_hf(ours, tmp_path / "out")
    theirs = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    assert type(theirs).__name__ == architecture
    with torch.no_grad():
        assert (ours(tokens()) - theirs(tokens()).logits).abs().max() < 1e-4
    prompt = tokens()[:1, :5]
    expected = theirs.generate(
        prompt, max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=0
    )
    assert torch.equal(generate(ours, prompt, 12, temperature=0, stop_token=None), expected)
    # and back: the folder loads into the same config and weights
    config, state = load_hf(tmp_path / "out")
    again = GPT(config).eval()
    again.load_state_dict(state)
    with torch.no_grad():
        assert (again(tokens()) - ours(tokens())).abs().max() < 1e-5
    for key in ("n_kv_heads", "qk_norm", "tie_weights", "rope_theta"):
        assert getattr(config, key) == getattr(ours.cfg, key) or key == "n_kv_heads"


@pytest.mark.parametrize(
    ("switch", "named"),
    [
        ({"mlp": "relu2"}, "model.mlp=relu2"),
        ({"logit_softcap": 15.0}, "model.logit_softcap=15.0"),
        ({"bias": True}, "model.bias=True"),
        ({"value_embeds": 1}, "model.value_embeds=1"),
        ({"unet_skips": True}, "model.unet_skips=True"),
        ({"attn_window": 8}, "model.attn_window=8"),
    ],
)
def test_a_config_without_a_twin_exports_with_its_own_code(tmp_path, switch, named):
    """(What loads it and computes equal logits: tests/interop/test_remote_code.py.)"""
    from gptlab.interop.hf import exports_with_its_own_code

    cfg = GPTConfig(**{**LLAMA, **switch})
    assert named in exports_with_its_own_code(cfg)
    save_hf(GPT(cfg), tmp_path / "out")
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_type"] == "gptlab" and config["gptlab"]["n_layers"] == 2
    assert (tmp_path / "out" / "modeling_gptlab.py").is_file()
    gpt2_with_rmsnorm = GPTConfig(vocab_size=VOCAB, context_length=CONTEXT, emb_dim=64,
                                  n_heads=4, n_layers=2, norm="rmsnorm")  # fmt: skip
    assert "model.pos_emb=learned" in exports_with_its_own_code(gpt2_with_rmsnorm)
    assert exports_with_its_own_code(GPTConfig(**LLAMA)) is None


def test_the_exported_tokenizer_encodes_like_gptlabs(tmp_path):
    from gptlab.data.tokenizer import encode

    save_hf(GPT(GPTConfig(**LLAMA)), tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    for text in ["Hello world", " café — 日本語のテキスト\n\tdef f(x): return x**2"]:
        assert tokenizer.encode(text) == encode(text)
    assert len(tokenizer) == 50257 and tokenizer.eos_token_id == 50256
