"""GPU-only checks (skipped without CUDA): no host sync inside training steps, logging steps
included, and the on-device skip of non-finite steps by fused AdamW."""

from __future__ import annotations

import math
import warnings

import lightning as L
import pytest
import torch
from compile_watch import GraphCount

from conftest import read_metrics
from gptlab.commands.train import train
from gptlab.training.numerics import skip_update

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

GPU = [
    "trainer.accelerator=gpu",
    "trainer.precision=bf16-mixed",
    "trainer.max_steps=12",
    "trainer.log_every_n_steps=10",
    "trainer.limit_val_batches=0",
    "callbacks.model_checkpoint=null",
    "callbacks.last_checkpoint.every_n_train_steps=1000",
    "sample.max_new_tokens=0",
    "logger=csv",
]


class SyncWatch(L.Callback):
    """CUDA's sync debug mode (warn) from the start of step ``first`` to the start of ``last``."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.first:
            torch.cuda.set_sync_debug_mode("warn")
        elif trainer.global_step == self.last:
            torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize(("optim", "bar"), [("adamw", False), ("muon", False), ("adamw", True)])
def test_training_steps_do_not_wait_for_the_gpu(compose_train, tmp_path, optim, bar):
    """Steps 2 to 21 hold logging steps 10 and 20 (loss, gradient norm, tokens/s, memory): the
    values reach the host through pinned copies and CUDA events, never a sync. Under optim=muon
    the non-finite check skips both optimizers on the device too; the progress line (on in a
    user's run) reads host values only."""
    cfg = compose_train(
        *GPU,
        f"optim={optim}",
        f"trainer.enable_progress_bar={str(bar).lower()}",
        "trainer.max_steps=24",
        "+callbacks.sync_watch._target_=test_gpu.SyncWatch",
        "+callbacks.sync_watch.first=2",
        "+callbacks.sync_watch.last=22",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(cfg)
    torch.cuda.set_sync_debug_mode("default")
    syncs = [str(w.message) for w in caught if "called a synchronizing" in str(w.message)]
    assert not syncs, syncs[:3]
    rows = read_metrics(tmp_path / "run")
    losses = {int(r["step"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    assert sorted(losses) == [1, 10, 20, 24]  # each under its own step: first, every 10, last
    rates = {int(r["step"]) for r in rows if r.get("perf/tokens_per_s")}
    assert rates == {10, 20, 24}  # the windows from step 1 to 10, 10 to 20, 20 to 24


def test_fused_adamw_skips_a_nonfinite_step_on_the_device():
    weight = torch.nn.Parameter(torch.ones(8, device="cuda"))
    optimizer = torch.optim.AdamW([weight], lr=0.1, fused=True)
    weight.grad = torch.ones(8, device="cuda")
    skip_update(optimizer, torch.tensor(False, device="cuda"))
    optimizer.step()
    after_one = weight.detach().clone()

    weight.grad = torch.full((8,), float("nan"), device="cuda")
    torch.cuda.set_sync_debug_mode("error")  # the decision must not leave the GPU
    try:
        skip_update(optimizer, ~torch.isfinite(weight.grad).all())
        optimizer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(weight.detach(), after_one)
    assert optimizer.state[weight]["step"].item() == 1


def test_nonfinite_gradient_is_skipped_on_the_gpu(compose_train, tmp_path):
    cfg = compose_train(
        *GPU, "+callbacks.fault._target_=faults.NaNGradient", "+callbacks.fault.at_step=3"
    )
    train(cfg)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["gptlab"]["skipped_steps"] == 1
    adam_steps = {int(s["step"]) for s in checkpoint["optimizer_states"][0]["state"].values()}
    assert adam_steps == {11}


def test_fused_loss_matches_the_reference_under_bf16_and_compile():
    from gptlab.kernels.loss import training_loss
    from gptlab.model import GPT, GPTConfig

    config = dict(vocab_size=1000, context_length=64, emb_dim=64, n_heads=4, n_layers=2)
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**config, drop_rate=0.0, vocab_multiple=64)).cuda()
    fused = GPT(GPTConfig(**config, drop_rate=0.0, vocab_multiple=64)).cuda()
    fused.load_state_dict(plain.state_dict())
    idx = torch.randint(0, 1000, (8, 64), device="cuda")
    losses = []
    device = torch.device("cuda")
    for loss_fn in (plain, training_loss(fused, "compiled", fused=True, device=device)):
        step = torch.compile(loss_fn)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step(idx, idx)
        loss.backward()
        losses.append(loss.item())
    assert losses[1] == pytest.approx(losses[0], rel=2e-3)
    for (name, a), (_, b) in zip(plain.named_parameters(), fused.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=2e-3, rtol=5e-2, msg=name)


def liger_usable() -> bool:
    from gptlab.upstream import liger

    return torch.cuda.is_available() and liger.available()


@pytest.mark.skipif(not liger_usable(), reason="needs liger-kernel (pip install -e '.[kernels]')")
@pytest.mark.parametrize("vocab_multiple", [1, 64])
@pytest.mark.parametrize("fused_loss", [False, True])
@pytest.mark.parametrize("softcap", [None, 15.0])
def test_liger_loss_matches_the_compiled_one_under_bf16_and_compile(
    fused_loss, vocab_multiple, softcap
):
    """kernels.loss=liger (auto's choice on GPUs): Liger's kernel runs, in one chunk or in row
    chunks (5,120 rows: two chunks of 4,096), soft-capped or not, and the loss and every gradient
    match the compiled F.cross_entropy's."""
    from torch.profiler import ProfilerActivity, profile

    from gptlab.kernels.loss import training_loss
    from gptlab.model import GPT, GPTConfig

    config = GPTConfig(vocab_size=1000, context_length=64, emb_dim=64, n_heads=4, n_layers=2,
                       drop_rate=0.0, vocab_multiple=vocab_multiple, logit_softcap=softcap)  # fmt: skip
    torch.manual_seed(0)
    plain = GPT(config).cuda()
    liger = GPT(config).cuda()
    liger.load_state_dict(plain.state_dict())
    idx = torch.randint(0, 1000, (80, 64), device="cuda")
    losses, kernels = [], []
    device = torch.device("cuda")
    for loss_fn in (plain, training_loss(liger, "liger", fused=fused_loss, device=device)):
        step = torch.compile(loss_fn)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = step(idx, idx)
            loss.backward()
            torch.cuda.synchronize()
        losses.append(loss.item())
        kernels.append({e.name for e in prof.events() if "liger" in e.name})
    assert not kernels[0] and kernels[1] == {"liger_cross_entropy_kernel"}
    assert losses[1] == pytest.approx(losses[0], rel=2e-3)
    for (name, a), (_, b) in zip(plain.named_parameters(), liger.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=2e-3, rtol=5e-2, msg=name)


def test_the_architecture_switches_train_compiled_in_bf16_and_cache_on_the_gpu(compose_train):
    from gptlab.commands.train import train
    from gptlab.model import GPT, GPTConfig, KVCache

    small = ["model.emb_dim=128", "model.n_heads=4", "model.n_kv_heads=2", "model.n_layers=2"]
    speedrun = ["model.value_embeds=1", "model.unet_skips=true", "optim.normuon=true",
                "optim.ns_coefficients=polar_express", "optim.cautious_weight_decay=true",
                "optim.weight_decay=0.05"]  # fmt: skip
    cfg = compose_train(
        "model=modern_124m", *small, "model.context_length=64", "trainer.accelerator=gpu",
        "kernels.compile=true", "trainer.max_steps=10", "optim=muon", *speedrun,
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["val/loss"] < 11
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=512, context_length=32, emb_dim=128, n_heads=4, n_kv_heads=2,
                       n_layers=2, pos_emb="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True,
                       value_embeds=1, unet_skips=True)  # fmt: skip
    model = GPT(config).cuda().eval()
    idx = torch.randint(0, 512, (2, 32), device="cuda")
    torch.set_float32_matmul_precision("highest")  # training turned TF32 on for this process
    with torch.no_grad():
        full = model(idx)
        cache = KVCache(config, 2, idx.device, torch.float32)
        parts = [model(idx[:, :9], cache=cache)] + [
            model(idx[:, i : i + 1], cache=cache) for i in range(9, 32)
        ]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=2e-4, rtol=1e-3)


def fa4_usable() -> bool:
    from gptlab.kernels.attention import _importable

    return (
        torch.cuda.is_available()
        and torch.cuda.get_device_capability()[0] in (9, 10)
        and hasattr(torch.nn.attention, "activate_flash_attention_impl")
        and _importable("flash_attn.cute.interface")
    )


def attention_kernels(model, idx, name: str) -> tuple[float, list[torch.Tensor], list[str]]:
    """Loss, gradients and the attention kernels' names of one compiled bf16 step under ``name``."""
    from torch.profiler import ProfilerActivity, profile

    from gptlab.kernels import attention

    model.zero_grad(set_to_none=True)
    torch.compiler.reset()  # trace under this kernel's flags
    with (
        attention.swapped_in(name, idx.device),
        profile(activities=[ProfilerActivity.CUDA]) as prof,
    ):
        with attention.kernel_context(name), torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.compile(model)(idx, idx)
        loss.backward()
        torch.cuda.synchronize()
    names = [e.name for e in prof.events() if "flash" in e.name.lower() or "fmha" in e.name]
    return loss.item(), [p.grad.clone() for p in model.parameters()], names


@pytest.mark.skipif(not fa4_usable(), reason="needs flash-attn-4 on an H100/H200/B200")
def test_fa4_replaces_pytorchs_flash_kernel_and_matches_it(compose_train, tmp_path):
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    config = GPTConfig(vocab_size=1000, context_length=256, emb_dim=256, n_heads=4, n_layers=2,
                       drop_rate=0.0)  # fmt: skip
    model = GPT(config).cuda()
    idx = torch.randint(0, 1000, (4, 256), device="cuda")
    loss, grads, kernels = attention_kernels(model, idx, "flash")
    loss4, grads4, kernels4 = attention_kernels(model, idx, "fa4")
    assert any("pytorch_flash" in k for k in kernels), kernels[:5]
    assert kernels4 and not any("pytorch_flash" in k for k in kernels4), kernels4[:5]
    assert loss4 == pytest.approx(loss, rel=2e-3)
    for (name, _), a, b in zip(model.named_parameters(), grads, grads4, strict=True):
        torch.testing.assert_close(b, a, atol=2e-3, rtol=5e-2, msg=name)
    # and through train.py (head size 64); PyTorch's own kernel is back afterwards
    cfg = compose_train(
        *GPU, "kernels.attention=fa4", "model.drop_rate=0.0", "kernels.compile=true",
        "model.emb_dim=128", "model.context_length=128",
    )  # fmt: skip
    train(cfg)
    losses = [float(r["train/loss"]) for r in read_metrics(tmp_path / "run") if r.get("train/loss")]
    assert losses and all(math.isfinite(x) for x in losses)
    assert torch.nn.attention.current_flash_attention_impl() is None


def test_flex_windows_train_as_the_dense_mask_does_and_a_run_uses_them(compose_train):
    """FlexAttention's block-sparse window against the model's dense mask: one compiled bf16 step,
    loss and gradients; then a run with kernels.attention=flex and a growing window."""
    from gptlab.commands.train import train
    from gptlab.kernels.flex import FlexWindow
    from gptlab.model import GPT, GPTConfig

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=512, context_length=512, emb_dim=128, n_heads=4, n_kv_heads=2,
                    n_layers=2, drop_rate=0.0, pos_emb="rope", attn_window=192)  # fmt: skip
    model = GPT(cfg).cuda()
    idx = torch.randint(0, 512, (2, 512), device="cuda")

    def step() -> tuple[float, list[torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        torch.compiler.reset()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.compile(model)(idx, idx)
        loss.backward()
        return loss.item(), [p.grad.float().clone() for p in model.parameters()]

    dense_loss, dense_grads = step()
    model.use_window_kernel(FlexWindow())
    flex_loss, flex_grads = step()
    assert flex_loss == pytest.approx(dense_loss, rel=2e-3)
    for a, b in zip(dense_grads, flex_grads, strict=True):
        torch.testing.assert_close(b, a, atol=2e-3, rtol=5e-2)
    run = compose_train("model.context_length=256", "model.attn_window=192",
                        "module.attn_window_start=64", "kernels.attention=flex",
                        "kernels.compile=true", "trainer.accelerator=gpu", "trainer.max_steps=10")  # fmt: skip
    assert train(run)["val/loss"] < 11


def test_a_batch_size_schedule_compiles_nothing_once_training_runs_in_bf16(compose_train):
    """As tests/kernels/test_compiler.py checks on the CPU, under bf16 autocast on the GPU."""
    from gptlab.commands.train import train

    GraphCount.counts = {}
    run = compose_train(*GPU, "optim=muon", "kernels.compile=true", "trainer.max_steps=9",
                        "data.batch_size_schedule=[2,4,6]",
                        "+callbacks.graphs._target_=compile_watch.GraphCount")  # fmt: skip
    train(run)
    assert GraphCount.counts[9] == GraphCount.counts[1], GraphCount.counts
