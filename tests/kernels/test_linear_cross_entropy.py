"""The chunked output layer + cross-entropy equals F.cross_entropy on full logits, gradients too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gptlab.kernels.linear_cross_entropy import linear_cross_entropy
from gptlab.model import GPT, GPTConfig


@pytest.mark.parametrize("vocab_size", [97, 90])  # 90: the last 7 weight rows are padding
@pytest.mark.parametrize("softcap", [None, 3.0])
def test_equals_cross_entropy_on_full_logits(vocab_size, softcap):
    torch.manual_seed(0)
    x = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(97, 16, requires_grad=True)
    targets = torch.randint(0, vocab_size, (37,))
    logits = (x @ weight.t())[:, :vocab_size]
    if softcap is not None:  # as the model soft-caps: c * tanh(logits / c)
        logits = softcap * torch.tanh(logits / softcap)
    expected = F.cross_entropy(logits, targets)
    expected.backward()
    grads = x.grad.clone(), weight.grad.clone()
    x.grad = weight.grad = None

    for chunk_rows in (10, None):  # 4 chunks; all rows in one
        x.grad = weight.grad = None
        loss = linear_cross_entropy(
            x, weight, targets, vocab_size, chunk_rows=chunk_rows, softcap=softcap
        )
        (loss * 2).backward()  # the incoming gradient is applied
        assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
        torch.testing.assert_close(x.grad, 2 * grads[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(weight.grad, 2 * grads[1], atol=1e-6, rtol=1e-5)


def test_compiles_as_one_opaque_call_under_autocast():
    """torch.compile traces it without a graph break; under autocast the products run in bf16,
    as nn.Linear's would, and the loss stays the float32 cross-entropy of those logits."""
    torch.manual_seed(0)
    x = torch.randn(24, 16, requires_grad=True)
    weight = torch.randn(97, 16, requires_grad=True)
    targets = torch.randint(0, 97, (24,))
    step = torch.compile(linear_cross_entropy, backend="aot_eager", fullgraph=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = step(x, weight, targets, chunk_rows=None)
        expected = F.cross_entropy(F.linear(x, weight).float(), targets)
    loss.backward()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)
    assert x.grad.dtype == torch.float32 and weight.grad.dtype == torch.float32


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="kernel='triton' must be one of"):
        linear_cross_entropy(
            torch.zeros(2, 4), torch.zeros(5, 4), torch.zeros(2).long(), kernel="triton"
        )


@pytest.mark.parametrize("softcap", [None, 15.0])
def test_the_model_trains_the_same_with_the_fused_loss(softcap):
    """kernels.fused_loss: the loss and every gradient equal the model's own, soft-cap included."""
    from gptlab.kernels.loss import training_loss

    config = GPTConfig(
        vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0,
        vocab_multiple=8, logit_softcap=softcap,
    )  # fmt: skip
    torch.manual_seed(0)
    plain, fused = GPT(config), GPT(config)
    fused.load_state_dict(plain.state_dict())
    loss = training_loss(fused, "compiled", fused=True, device=torch.device("cpu"))
    idx = torch.randint(0, 97, (3, 16))
    plain(idx, idx).backward()
    loss(idx, idx).backward()
    assert loss(idx, idx).item() == pytest.approx(plain(idx, idx).item(), abs=1e-6)
    for (name, a), (_, b) in zip(plain.named_parameters(), fused.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, atol=1e-6, rtol=1e-5, msg=name)
