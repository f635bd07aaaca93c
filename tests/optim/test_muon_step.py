"""gptlab's batched Muon update against torch.optim.Muon's own, and its skip on the device."""

from __future__ import annotations

import pytest
import torch

from gptlab.optim.muon_step import muon_step

SHAPES = [(32, 96), (32, 96), (32, 32), (128, 32), (32, 128), (32, 32)]  # wide, square, tall


def twin_optimizers(**hyper) -> tuple[torch.optim.Muon, torch.optim.Muon]:
    torch.manual_seed(0)
    first = [torch.nn.Parameter(torch.randn(*s) * 0.02) for s in SHAPES]
    second = [torch.nn.Parameter(p.detach().clone()) for p in first]
    return torch.optim.Muon(first, lr=0.02, **hyper), torch.optim.Muon(second, lr=0.02, **hyper)


def set_grads(optimizer: torch.optim.Muon, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for p in optimizer.param_groups[0]["params"]:
        p.grad = torch.randn(p.shape, generator=generator)


@pytest.mark.parametrize(
    "hyper",
    [
        {},
        {"weight_decay": 0.1, "nesterov": False},
        {"adjust_lr_fn": "match_rms_adamw", "ns_steps": 3},
    ],
)
def test_the_batched_update_equals_torch_muon(hyper):
    reference, batched = twin_optimizers(**hyper)
    for step in range(3):
        set_grads(reference, step)
        set_grads(batched, step)
        reference.step()
        muon_step(batched)
    pairs = zip(reference.param_groups[0]["params"], batched.param_groups[0]["params"], strict=True)
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(
            reference.state[a]["momentum_buffer"], batched.state[b]["momentum_buffer"]
        )


def test_a_step_skipped_on_the_device_changes_nothing_even_with_nan_gradients():
    _, optimizer = twin_optimizers(weight_decay=0.1)
    set_grads(optimizer, 0)
    muon_step(optimizer, skip=torch.tensor(False))
    params = optimizer.param_groups[0]["params"]
    before = [p.detach().clone() for p in params]
    buffers = [optimizer.state[p]["momentum_buffer"].clone() for p in params]
    for p in params:
        p.grad = torch.full_like(p, float("nan"))
    muon_step(optimizer, skip=torch.tensor(True))
    for p, was, buffer in zip(params, before, buffers, strict=True):
        assert torch.equal(p, was)
        assert torch.equal(optimizer.state[p]["momentum_buffer"], buffer)
