import copy

import pytest
import torch

from gptlab.training.clipping import clip_in_step, folds_into_step
from gptlab.training.numerics import skip_update


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4))


def _backward(model: torch.nn.Module, scale: float) -> None:
    torch.manual_seed(1)
    x = torch.randn(32, 8)
    (model(x).square().mean() * scale).backward()


@pytest.mark.parametrize("scale", [1e-3, 1e3])  # below and far above max_norm
def test_clipping_inside_fused_adamw_equals_clip_grad_norm(scale):
    reference, folded = _model(), _model()
    ref_opt = torch.optim.AdamW(reference.parameters(), lr=1e-2, fused=True)
    opt = torch.optim.AdamW(folded.parameters(), lr=1e-2, fused=True)
    for _ in range(3):
        _backward(reference, scale)
        ref_norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
        ref_opt.step()
        ref_opt.zero_grad()
        _backward(folded, scale)
        norm = clip_in_step(opt, folded.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        assert norm.item() == pytest.approx(ref_norm.item(), rel=1e-6)
    for a, b in zip(reference.parameters(), folded.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_a_nonfinite_norm_with_skip_update_leaves_the_weights_alone():
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    before = copy.deepcopy(model.state_dict())
    _backward(model, float("inf"))
    norm = clip_in_step(opt, model.parameters(), 1.0)
    skip_update(opt, ~torch.isfinite(norm))
    opt.step()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])
    assert all(float(s["step"]) == 0 for s in opt.state.values())  # the step does not count


def test_only_fused_adam_outside_fp16_folds_the_clipping():
    params = list(_model().parameters())
    assert folds_into_step(torch.optim.AdamW(params, fused=True), "bf16-mixed")
    assert not folds_into_step(torch.optim.AdamW(params, fused=True), "16-mixed")  # GradScaler's
    assert not folds_into_step(torch.optim.AdamW(params), "32-true")
    assert not folds_into_step(torch.optim.SGD(params, lr=0.1), "32-true")
