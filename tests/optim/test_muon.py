"""optim=muon: which parameters Muon gets, momentum warm-up, skipped steps, state round trips."""

from __future__ import annotations

import copy

import pytest
import torch

from gptlab.model import GPT, GPTConfig
from gptlab.optim.build import build_optimizer
from gptlab.optim.config import OptimConfig
from gptlab.optim.muon import MuonWithAdamW, momentum_at, split_by_role
from gptlab.training.numerics import skip_update

TINY = dict(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)


@pytest.mark.parametrize(
    "switches", [{}, {"qk_norm": True, "tie_weights": False, "mlp": "swiglu", "bias": False}]
)
def test_muon_gets_the_blocks_matrices_and_adamw_the_rest(switches):
    model = GPT(GPTConfig(**TINY, **switches))
    groups = split_by_role(model)
    hidden = {
        id(m.weight)
        for block in model.blocks
        for m in (block.attn.qkv, block.attn.proj, block.mlp.fc, block.mlp.proj)
    }
    assert {id(p) for p in groups["muon"]} == hidden
    assert all(p.dim() == 2 for p in groups["muon"])
    assert {id(p) for p in groups["adamw_decay"]} == {
        id(model.tok_emb.weight),
        id(model.lm_head.weight),
        *([id(model.pos_emb.weight)] if model.pos_emb is not None else []),
    }
    assert all(p.dim() == 1 for p in groups["adamw_no_decay"])  # norms, biases, QK-norm gains
    total = sum(p.numel() for ps in groups.values() for p in ps)
    assert total == model.num_parameters()  # every parameter once, the tied matrix too


def test_momentum_warms_up_then_stays():
    assert momentum_at(0, 0.85, 0.95, 300) == pytest.approx(0.85)
    assert momentum_at(150, 0.85, 0.95, 300) == pytest.approx(0.90)
    assert momentum_at(300, 0.85, 0.95, 300) == momentum_at(10_000, 0.85, 0.95, 300) == 0.95
    assert momentum_at(0, 0.85, 0.95, 0) == 0.95


def optimizer_and_model(fused: bool = False) -> tuple[GPT, MuonWithAdamW]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    cfg = OptimConfig(name="muon", lr=0.02, momentum_warmup_steps=4)
    return model, build_optimizer(model, cfg, fused=fused)  # fused AdamW: the GPU path


def step(model: GPT, optimizer: MuonWithAdamW, skip: bool = False) -> None:
    x = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(1))
    optimizer.zero_grad()
    model(x, x).backward()
    skip_update(optimizer, torch.tensor(skip))
    optimizer.step()


@pytest.mark.parametrize("fused", [False, True])
def test_a_skipped_step_leaves_weights_and_both_states_alone(fused, monkeypatch):
    model, optimizer = optimizer_and_model(fused)
    step(model, optimizer)
    if fused:  # the skip is decided on the device: reading the flag on the host would be a sync

        def no_host_read(self):
            raise AssertionError("read on the host")

        monkeypatch.setattr(torch.Tensor, "item", no_host_read)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    buffers = [s["momentum_buffer"].clone() for s in state["muon"]["state"].values()]
    step(model, optimizer, skip=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    after = optimizer.state_dict()
    assert after["steps_taken"] == (2 if fused else 1)  # the device skip is not seen by the host
    assert all(
        torch.equal(s["momentum_buffer"], b)
        for s, b in zip(after["muon"]["state"].values(), buffers, strict=True)
    )
    assert {int(s["step"]) for s in after["adamw"]["state"].values()} == {1}
    step(model, optimizer)
    assert not torch.equal(
        model.state_dict()["blocks.0.attn.qkv.weight"], weights["blocks.0.attn.qkv.weight"]
    )


def test_a_restored_optimizer_continues_as_the_original():
    model, optimizer = optimizer_and_model()
    for _ in range(3):
        step(model, optimizer)
    copy_model, copy_optimizer = optimizer_and_model()
    copy_model.load_state_dict(model.state_dict())
    # a copy, as from a checkpoint file: load_state_dict keeps the tensors it is given
    copy_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    assert copy_optimizer.steps_taken == 3
    for _ in range(2):
        step(model, optimizer)
        step(copy_model, copy_optimizer)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(copy_model.state_dict()[key], value, rtol=0, atol=0)
    assert optimizer.muon.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_muon_values_are_checked():
    from gptlab.errors import ConfigError

    with pytest.raises(ConfigError, match="optim.name='sgd' must be one of"):
        OptimConfig(name="sgd")
    with pytest.raises(ConfigError, match="optim.adjust_lr_fn='rms'"):
        OptimConfig(name="muon", adjust_lr_fn="rms")
    with pytest.raises(ConfigError, match="FSDP flattens"):
        MuonWithAdamW([torch.nn.Parameter(torch.ones(4))], [], muon={}, adamw={})
