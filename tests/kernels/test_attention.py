"""kernels.attention: the checks made before a run is built, the kernel context, and the swap of
PyTorch's flash kernel for FlashAttention-4 lasting exactly one run (the kernel itself is compared
with PyTorch's on a GPU in test_gpu.py)."""

from __future__ import annotations

import pytest
import torch

from gptlab.errors import ConfigError
from gptlab.kernels import attention
from gptlab.training.module import GPTModule

TINY = dict(vocab_size=64, context_length=16, emb_dim=16, n_heads=2, n_layers=1)


def test_unknown_kernel_names_the_choices():
    with pytest.raises(ConfigError, match=r"kernels.attention='fast' must be one of .*'fa4'"):
        attention.check_name("fast")


def test_fa4_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(attention, "_importable", lambda module: False)
    with pytest.raises(
        ConfigError, match="needs the flash-attn-4 package: pip install flash-attn-4"
    ):
        attention.check_name("fa4")


def test_fa4_refuses_dropout_before_anything_is_built(monkeypatch):
    monkeypatch.setattr(attention, "_importable", lambda module: True)
    with pytest.raises(ConfigError, match=r"model.drop_rate=0.1; set model.drop_rate=0.0"):
        attention.check_model("fa4", 0.1)
    attention.check_name("fa4")
    attention.check_model("fa4", 0.0)


def test_fa4_on_a_cpu_is_refused_with_the_gpus_it_needs():
    with pytest.raises(ConfigError, match=r"compute capability 9.x or 10.x .* not cpu"):
        attention.activate("fa4", torch.device("cpu"))
    assert attention.activate("cudnn", torch.device("cpu")) is False  # PyTorch's own: no swap


def test_fa4_runs_in_pytorchs_flash_slot():
    with attention.kernel_context("fa4"):
        assert torch.backends.cuda.flash_sdp_enabled()
        assert not torch.backends.cuda.math_sdp_enabled()
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    assert torch.backends.cuda.math_sdp_enabled()


class FakeTrainer:
    class strategy:  # noqa: N801 - stands in for trainer.strategy
        root_device = torch.device("cpu")


def test_the_swap_lasts_from_setup_to_teardown(monkeypatch):
    """A sweep or a benchmark runs several trainings in one process: the next one must not
    inherit FA4 from the one before."""
    calls = []
    monkeypatch.setattr(attention, "_importable", lambda module: True)
    monkeypatch.setattr(attention, "activate", lambda name, device: calls.append(name) or True)
    monkeypatch.setattr(attention, "restore", lambda: calls.append("restore"))
    module = GPTModule({**TINY, "drop_rate": 0.0}, kernels={"attention": "fa4"})
    monkeypatch.setattr(GPTModule, "trainer", FakeTrainer(), raising=False)
    module.setup("fit")
    module.setup("validate")  # setup runs per stage: one swap
    module.teardown("fit")
    module.teardown("validate")
    assert calls == ["fa4", "restore"]


@pytest.mark.parametrize(("installed", "refused"), [("4.0.0b36", True), ("4.0.0b18", False)])
def test_fa4_releases_past_pytorchs_glue_are_refused_with_the_one_that_fits(
    monkeypatch, installed, refused
):
    """flash-attn-4 4.0.0b36's forward returns five values where PyTorch's glue unpacks two: the
    first attention call failed with "too many values to unpack" on an H200 (torch 2.11)."""
    import importlib.metadata

    monkeypatch.setattr(attention, "_importable", lambda module: True)
    monkeypatch.setattr(importlib.metadata, "version", lambda package: installed)
    if refused:
        with pytest.raises(ConfigError, match=r"pip install 'flash-attn-4==4.0.0b18'"):
            attention.check_name("fa4")
    else:
        attention.check_name("fa4")


def attention_ops(module: GPTModule) -> set[str]:
    from torch.profiler import profile

    idx = torch.randint(0, TINY["vocab_size"], (2, TINY["context_length"]))
    with profile() as prof:
        module.loss(idx, idx)
    return {e.name for e in prof.events() if "attention" in e.name and e.name.startswith("aten::_")}


def test_each_run_compiles_under_its_own_attention_kernel(monkeypatch):
    """Dynamo does not guard on the attention flags: the second module, asking for the math
    kernel, ran the first one's graph with its flash kernel (seen on CPU and, with FA4, on an
    H200: benchmark variants that set kernels.attention measured the default kernel)."""
    from functools import partial

    monkeypatch.setattr(torch, "compile", partial(torch.compile, backend="aot_eager"))
    monkeypatch.setattr(GPTModule, "trainer", FakeTrainer(), raising=False)
    seen = {}
    for kernel in ("flash", "math"):
        module = GPTModule(
            {**TINY, "drop_rate": 0.0}, kernels={"compile": True, "attention": kernel}
        )
        module.setup("fit")
        seen[kernel] = attention_ops(module)
    assert any("flash_attention_for_cpu" in op for op in seen["flash"]), seen
    assert any("attention_math" in op for op in seen["math"]), seen
    assert not any("flash" in op for op in seen["math"]), seen


def test_a_swap_for_a_block_is_undone_when_the_block_fails(monkeypatch):
    calls = []
    monkeypatch.setattr(attention, "activate", lambda name, device: calls.append(name) or True)
    monkeypatch.setattr(attention, "restore", lambda: calls.append("restore"))
    with pytest.raises(RuntimeError), attention.swapped_in("fa4", torch.device("cuda")):
        raise RuntimeError("the benchmark failed")
    assert calls == ["fa4", "restore"]


def test_flex_is_for_sliding_windows_without_dropout_on_cuda_gpus():
    with pytest.raises(ConfigError, match="kernels.attention=flex runs sliding-window attention"):
        attention.check_model("flex", 0.0, None)
    with pytest.raises(ConfigError, match=r"model.drop_rate=0.1; set model.drop_rate=0.0"):
        attention.check_model("flex", 0.1, 64)
    attention.check_model("flex", 0.0, 64)
    with pytest.raises(ConfigError, match="kernels.attention=flex trains on CUDA GPUs"):
        attention.check_device("flex", torch.device("cpu"))
    attention.check_name("flex")  # this torch has FlexAttention
    with attention.kernel_context("flex"):  # PyTorch's choice for everything else
        assert torch.backends.cuda.math_sdp_enabled()


def test_flex_windows_compute_the_models_own_logits():
    """FlexAttention's block mask against the model's dense one, forward only (FlexAttention has
    no backward on CPUs; training is compared on a GPU in test_gpu.py). 200 positions: two
    128-position blocks, the second partly outside the window."""
    from gptlab.kernels.flex import FlexWindow
    from gptlab.model import GPT, GPTConfig, KVCache

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, context_length=200, emb_dim=32, n_heads=4, n_kv_heads=2,
                    n_layers=2, drop_rate=0.0, pos_emb="rope", attn_window=100)  # fmt: skip
    model = GPT(cfg).eval()
    idx = torch.randint(0, 64, (2, 200))
    with torch.no_grad():
        dense = model(idx)
        model.set_attn_window(70)  # a schedule's narrower window, read from the buffer
        narrower = model(idx)
        model.set_attn_window(100)
        model.use_window_kernel(FlexWindow())
        torch.testing.assert_close(model(idx), dense, atol=2e-5, rtol=1e-4)
        model.set_attn_window(70)
        torch.testing.assert_close(model(idx), narrower, atol=2e-5, rtol=1e-4)
        model.set_attn_window(100)
        cache = KVCache(cfg, 2, torch.device("cpu"), torch.float32)  # generation: cached steps
        parts = [model(idx[:, :150], cache=cache)]
        parts += [model(idx[:, i : i + 1], cache=cache) for i in range(150, 160)]
    torch.testing.assert_close(torch.cat(parts, dim=1), dense[:, :160], atol=2e-5, rtol=1e-4)


def test_a_compiled_model_follows_its_window_as_it_grows_without_compiling_again():
    """The window is a buffer the schedule fills in place: a compiled graph must read it, not
    bake in the value it was traced with."""
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=64, context_length=64, emb_dim=32, n_heads=2, n_layers=1,
                          drop_rate=0.0, attn_window=32)).eval()  # fmt: skip
    idx = torch.randint(0, 64, (2, 64))
    torch.compiler.reset()
    stats = torch._dynamo.utils.counters["stats"]
    graphs = stats["unique_graphs"]  # counted per process, across tests
    compiled = torch.compile(model)
    with torch.no_grad():
        compiled(idx)
        model.set_attn_window(4)
        narrow, eager = compiled(idx), model(idx)
    torch.testing.assert_close(narrow, eager)
    assert stats["unique_graphs"] == graphs + 1
