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


def variants(optimizer: torch.optim.Muon, **values) -> torch.optim.Muon:
    for group in optimizer.param_groups:
        group.update(values)
    return optimizer


def test_polar_express_comes_closer_to_orthogonal_in_as_many_iterations():
    from gptlab.optim.muon_step import POLAR_EXPRESS, newton_schulz

    torch.manual_seed(0)
    matrices = torch.randn(8, 64, 256) @ torch.diag(torch.logspace(-3, 0, 256))  # ill-conditioned
    errors = {}
    for name, schedule in (("torch", None), ("polar_express", POLAR_EXPRESS)):
        x = newton_schulz(matrices, (3.4445, -4.775, 2.0315), 5, 1e-7, schedule)
        singular = torch.linalg.svdvals(x.float())
        errors[name] = (singular - 1).abs().mean().item()
    assert errors["polar_express"] < 0.5 * errors["torch"], errors


def test_normuon_evens_out_the_rows_and_keeps_the_updates_norm():
    from gptlab.optim.muon_step import normalize_rows

    update = torch.randn(2, 16, 64) * torch.linspace(0.1, 3.0, 16)[None, :, None]
    moments = torch.zeros(2, 16, 1)
    normed = normalize_rows(update, moments, beta2=0.0, skip=None)  # moments: this update's own
    rms = normed.square().mean(dim=-1).sqrt()
    torch.testing.assert_close(rms, rms[:, :1].expand_as(rms))  # every row alike
    torch.testing.assert_close(normed.norm(dim=(-2, -1)), update.norm(dim=(-2, -1)))
    torch.testing.assert_close(moments, update.square().mean(dim=-1, keepdim=True))
    before = moments.clone()
    normalize_rows(update * 2, moments, beta2=0.5, skip=torch.tensor(True))
    assert torch.equal(moments, before)  # a skipped step keeps the state


def test_cautious_decay_shrinks_only_weights_the_update_shrinks_too():
    decayed, plain = twin_optimizers(weight_decay=0.1)
    variants(decayed, cautious_wd=True)
    plain.param_groups[0]["weight_decay"] = 0.0
    before = [p.detach().clone() for p in decayed.param_groups[0]["params"]]
    for optimizer in (decayed, plain):
        set_grads(optimizer, 7)  # not seed 0: the weights' own numbers
        muon_step(optimizer)
    lr, decay = 0.02, 0.1
    pairs = zip(before, decayed.param_groups[0]["params"], plain.param_groups[0]["params"],
                strict=True)  # fmt: skip
    for was, with_decay, without in pairs:
        same_sign = was * (was - without) > 0  # the update moves the weight towards zero
        assert 0.2 < same_sign.float().mean() < 0.8
        expected = without - lr * decay * was * same_sign
        torch.testing.assert_close(with_decay, expected, rtol=0, atol=1e-7)


def test_every_variant_skips_on_the_device():
    from gptlab.optim.muon_step import POLAR_EXPRESS

    _, optimizer = twin_optimizers(weight_decay=0.1)
    variants(optimizer, ns_schedule=POLAR_EXPRESS, normuon_beta2=0.95, cautious_wd=True)
    set_grads(optimizer, 0)
    muon_step(optimizer, skip=torch.tensor(False))
    params = optimizer.param_groups[0]["params"]
    state = {id(p): {k: v.clone() for k, v in optimizer.state[p].items()} for p in params}
    before = [p.detach().clone() for p in params]
    set_grads(optimizer, 1)
    muon_step(optimizer, skip=torch.tensor(True))
    for p, was in zip(params, before, strict=True):
        assert torch.equal(p, was)
        assert set(optimizer.state[p]) == {"momentum_buffer", "normuon_second_moment"}
        for key, value in optimizer.state[p].items():
            assert torch.equal(value, state[id(p)][key]), key
    muon_step(optimizer, skip=torch.tensor(False))
    assert not torch.equal(params[0], before[0])


def stepped(optimizer: torch.optim.Muon, batched, steps: range, skip_at: int | None = None) -> None:
    for step in steps:
        set_grads(optimizer, step)
        optimizer.param_groups[0]["lr"] = 0.02 * (1 - step / 10)  # a schedule: a new rate each step
        batched.step(None if skip_at is None else torch.tensor(step == skip_at))


def test_each_shapes_states_stay_one_stacked_tensor_between_steps():
    from gptlab.optim.muon_step import BatchedMuon

    _, optimizer = twin_optimizers()
    variants(optimizer, normuon_beta2=0.95)
    batched = BatchedMuon(optimizer)
    stepped(optimizer, batched, range(2))
    params = optimizer.param_groups[0]["params"]
    buffer = optimizer.state[params[0]]["momentum_buffer"]
    stepped(optimizer, batched, range(2, 4))
    assert optimizer.state[params[0]]["momentum_buffer"] is buffer  # the same view: not rebuilt
    for name in ("momentum_buffer", "normuon_second_moment"):
        first, second = (optimizer.state[params[i]][name] for i in (0, 1))  # both (32, 96)
        assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()


def test_states_loaded_as_separate_tensors_are_stacked_again_and_continue_exactly():
    from gptlab.optim.muon_step import BatchedMuon

    reference, restored = twin_optimizers(weight_decay=0.1)
    for optimizer in (reference, restored):
        variants(optimizer, normuon_beta2=0.95)
    batched = BatchedMuon(reference)
    stepped(reference, batched, range(3))
    saved = reference.state_dict()
    separate = {k: {n: t.clone() for n, t in v.items()} for k, v in saved["state"].items()}
    for a, b in zip(reference.param_groups[0]["params"], restored.param_groups[0]["params"],
                    strict=True):  # fmt: skip
        b.data.copy_(a)
    restored.load_state_dict({**saved, "state": separate})
    stepped(reference, batched, range(3, 5))
    stepped(restored, BatchedMuon(restored), range(3, 5))
    pairs = zip(
        reference.param_groups[0]["params"], restored.param_groups[0]["params"], strict=True
    )
    for a, b in pairs:
        assert torch.equal(a, b)


def test_the_compiled_update_is_the_eager_one_and_compiles_once_per_shape():
    """Traced as Inductor would get it (torch.compile's aot_eager backend: the same graph with
    the in-place updates of weights and states, run eagerly): equal to the eager update, skipped
    steps too, and no new graph when the learning rate or momentum changes."""
    from torch._dynamo.backends.common import aot_autograd
    from torch._functorch.aot_autograd import make_boxed_compiler

    from gptlab.optim.muon_step import POLAR_EXPRESS, BatchedMuon

    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return make_boxed_compiler(lambda g, _: g)(gm, example_inputs)

    eager, compiled = twin_optimizers(weight_decay=0.1)
    for optimizer in (eager, compiled):
        variants(optimizer, ns_schedule=POLAR_EXPRESS, normuon_beta2=0.95, cautious_wd=True)
    torch.compiler.reset()
    batched = BatchedMuon(compiled, compiled=True, backend=aot_autograd(fw_compiler=count))
    reference = BatchedMuon(eager)
    for step in range(4):
        for optimizer in (eager, compiled):
            optimizer.param_groups[0]["momentum"] = 0.85 + 0.02 * step  # momentum warm-up
        stepped(eager, reference, range(step, step + 1), skip_at=2)
        stepped(compiled, batched, range(step, step + 1), skip_at=2)
    pairs = zip(eager.param_groups[0]["params"], compiled.param_groups[0]["params"], strict=True)
    for a, b in pairs:
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        for name in ("momentum_buffer", "normuon_second_moment"):
            torch.testing.assert_close(eager.state[a][name], compiled.state[b][name])
    assert len(graphs) == len({s for s in SHAPES})  # one graph per shape, for every step
