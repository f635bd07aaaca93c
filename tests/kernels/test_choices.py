"""The kernel choices made once per run (gptlab.kernels.prepare): compiling, the loss's kernel, and
the checks of the ``kernels:`` settings made before anything is built."""

from __future__ import annotations

import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.kernels import KernelConfig, prepare
from gptlab.kernels import loss as loss_choice
from gptlab.kernels.compiler import ROTARY_OPTIONS
from gptlab.model import GPT, GPTConfig
from gptlab.upstream import liger

TINY = GPTConfig(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


@pytest.mark.parametrize(
    ("setting", "device", "compiled"),
    [("auto", "cpu", False), ("auto", "cuda", True), (True, "cpu", True), (False, "cuda", False)],
)
def test_compile_auto_compiles_on_gpus_only(monkeypatch, setting, device, compiled):
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.append(kwargs) or fn)
    monkeypatch.setattr(loss_choice, "resolve", lambda name, device: "compiled")
    kernels = prepare(GPT(TINY), KernelConfig(compile=setting), torch.device(device))
    assert kernels.compiled == compiled and bool(seen) == compiled


def test_compile_settings_are_checked():
    with pytest.raises(ConfigError, match="kernels.compile='yes' must be true, false or auto"):
        KernelConfig.from_dict({"compile": "yes"})
    with pytest.raises(ConfigError, match="kernels.compile_mode='fastest' must be one of"):
        KernelConfig.from_dict({"compile_mode": "fastest"})
    with pytest.raises(ConfigError, match="kernels.compile_options.coordinate_descend_tuning"):
        KernelConfig.from_dict({"compile_options": {"coordinate_descend_tuning": True}})
    with pytest.raises(ConfigError, match="takes one of the two"):
        KernelConfig.from_dict(
            {"compile_mode": "max-autotune", "compile_options": {"max_autotune": True}}
        )
    with pytest.raises(ConfigError, match="must be a mapping"):
        KernelConfig.from_dict({"compile_options": "fast"})
    with pytest.raises(ConfigError, match="kernels.speed is not a kernel setting"):
        KernelConfig.from_dict({"speed": 1})


def test_compile_options_reach_torch_compile(monkeypatch):
    seen = {}
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.update(kwargs) or fn)
    config = KernelConfig.from_dict(
        {"compile": True, "compile_options": {"coordinate_descent_tuning": True}}
    )
    prepare(GPT(TINY), config, torch.device("cpu"))
    assert seen == {"options": {"coordinate_descent_tuning": True}}


def test_rotary_models_compile_with_torch_defaults_and_nd_tiling_is_opt_in(monkeypatch):
    # N-D tiling made the speedrun preset's first step compile for 170 s instead of 32 s on an
    # H200: it is the user's choice, not a default
    seen = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: seen.append(kwargs) or fn)
    rope = GPTConfig(**{**TINY.__dict__, "pos_emb": "rope"})

    def compile_options(cfg: GPTConfig, **settings) -> dict:
        prepare(
            GPT(cfg), KernelConfig.from_dict({"compile": True, **settings}), torch.device("cpu")
        )
        return seen.pop()

    assert compile_options(TINY) == {}
    assert compile_options(rope) == {}
    tiling = {"compile_options": dict(ROTARY_OPTIONS)}
    assert compile_options(rope, **tiling) == {"options": {"triton.prefer_nd_tiling": True}}
    assert compile_options(rope, compile_mode="max-autotune") == {"mode": "max-autotune"}


@pytest.mark.parametrize(
    ("installed", "device", "resolved"),
    [
        (True, "cuda", "liger"),
        (False, "cuda", "compiled"),  # not installed: the compiled loss, no error
        (True, "cpu", "compiled"),  # Triton kernels run on CUDA GPUs only
    ],
)
def test_loss_auto_picks_liger_on_gpus_where_installed(monkeypatch, installed, device, resolved):
    monkeypatch.setattr(liger, "available", lambda: installed)
    assert loss_choice.resolve("auto", torch.device(device)) == resolved


def test_a_soft_capped_model_gets_liger_too(monkeypatch):
    """The fused operation soft-caps as the model does (tests/kernels/test_linear_cross_entropy),
    so a soft-capped model (the speedrun presets) no longer falls back to the compiled loss."""
    monkeypatch.setattr(liger, "available", lambda: True)
    assert loss_choice.resolve("auto", torch.device("cuda")) == "liger"


def test_liger_is_refused_where_it_cannot_run(monkeypatch):
    with pytest.raises(ConfigError, match="kernels.loss='fast' must be one of"):
        KernelConfig.from_dict({"loss": "fast"})
    monkeypatch.setattr(liger, "available", lambda: False)
    with pytest.raises(ConfigError, match=r"pip install -e '.\[kernels\]'"):
        KernelConfig.from_dict({"loss": "liger"})
    monkeypatch.setattr(liger, "available", lambda: True)
    with pytest.raises(ConfigError, match="runs on CUDA GPUs and this run is on cpu"):
        loss_choice.resolve("liger", torch.device("cpu"))


def test_float8_settings_are_checked():
    with pytest.raises(ConfigError, match="kernels.float8='fp4' must be one of"):
        KernelConfig.from_dict({"float8": "fp4"})
    from gptlab.kernels import float8

    with pytest.raises(ConfigError, match="kernels.float8=tensorwise needs a GPU with FP8"):
        float8.check_device("tensorwise", torch.device("cpu"))


def test_the_output_layer_alone_can_be_fp8_when_the_loss_runs_through_it(monkeypatch):
    from gptlab.kernels import float8

    monkeypatch.setattr(liger, "available", lambda: True)
    from gptlab.model import GPT, GPTConfig

    with pytest.raises(ConfigError, match="kernels.float8_layers='some' must be one of"):
        KernelConfig.from_dict({"float8_layers": "some"})
    with pytest.raises(ConfigError, match="the head would not run in FP8; set kernels.loss"):
        KernelConfig.from_dict({"float8": "tensorwise", "float8_layers": "head", "loss": "liger"})
    with pytest.raises(ConfigError, match="the head would not run in FP8"):
        KernelConfig.from_dict({"float8": "rowwise", "float8_layers": "head", "fused_loss": True})
    KernelConfig.from_dict({"float8": "tensorwise", "float8_layers": "head"})  # loss auto: fine
    model = GPT(GPTConfig(vocab_size=100, context_length=16, emb_dim=32, n_heads=2, n_layers=1,
                          vocab_multiple=64, tie_weights=False))  # fmt: skip

    def chosen(layers: str, head_in_loss_kernel: bool = False) -> list[str]:
        return [name for name, m in model.named_modules()
                if float8.eligible(m, name, layers, head_in_loss_kernel)]  # fmt: skip

    assert chosen("head") == ["lm_head"]
    assert chosen("all") == ["blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc",
                             "blocks.0.mlp.proj", "lm_head"]  # fmt: skip
    # Liger's kernel or the fused loss multiplies by the head's weight: it is left out, not
    # counted as FP8 and run in bf16
    assert "lm_head" not in chosen("all", head_in_loss_kernel=True)


def test_prepare_keeps_an_fp8_head_on_the_loss_that_runs_through_it(monkeypatch):
    from gptlab.kernels import float8, prepare
    from gptlab.model import GPT, GPTConfig

    calls = []
    monkeypatch.setattr(float8, "convert_linears", lambda *args: calls.append(args[3:]) or 1)
    monkeypatch.setattr(loss_choice, "resolve", lambda name, device: "liger")  # a GPU with Liger
    monkeypatch.setattr(loss_choice, "training_loss", lambda model, way, fused, device: way)
    monkeypatch.setattr(liger, "available", lambda: True)
    model = GPT(GPTConfig(vocab_size=100, context_length=16, emb_dim=32, n_heads=2, n_layers=1))
    cpu = torch.device("cpu")
    head = KernelConfig.from_dict({"float8": "tensorwise", "float8_layers": "head",
                                   "compile": False})  # fmt: skip
    assert prepare(model, head, cpu).loss_way == "compiled"  # auto: the head's module computes
    assert calls == [("head", False)]
    every = KernelConfig.from_dict({"float8": "tensorwise", "compile": False})
    assert prepare(model, every, cpu).loss_way == "liger"
    assert calls[-1] == ("all", True)  # the head is left to Liger's kernel, not counted as FP8
