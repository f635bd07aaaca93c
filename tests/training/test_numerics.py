"""Non-finite losses and gradients: skipped on the device, counted, or training stopped."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import column, read_metrics
from gptlab.commands.train import run_and_record, train
from gptlab.errors import ConfigError
from gptlab.runtime import run_folder
from gptlab.training.module import GPTModule
from gptlab.training.numerics import (
    NonFiniteError,
    check_policy,
    nonfinite_tensors,
    skip_update,
    step_seed,
)

TINY = dict(vocab_size=97, context_length=16, emb_dim=32, n_heads=4, n_layers=2, drop_rate=0.0)
SHORT = [
    "trainer.max_steps=8",
    "trainer.limit_val_batches=0",
    "callbacks.model_checkpoint=null",
    "callbacks.last_checkpoint.every_n_train_steps=2",
    "sample.max_new_tokens=0",
    "optim.decay_steps=100",  # the same schedule whatever max_steps is
]


def test_policy_is_checked():
    assert check_policy("stop") == "stop"
    with pytest.raises(ConfigError, match="module.nonfinite='ignore'"):
        GPTModule(model=TINY, nonfinite="ignore")


def test_skip_update_leaves_parameters_and_state_alone():
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([weight], lr=0.1)
    weight.grad = torch.ones(3)
    skip_update(optimizer, torch.tensor(False))
    optimizer.step()
    after_one = weight.detach().clone()
    assert not torch.equal(after_one, torch.ones(3))

    weight.grad = torch.full((3,), float("nan"))
    skip_update(optimizer, torch.tensor(True))
    optimizer.step()
    assert torch.equal(weight.detach(), after_one)
    assert optimizer.state[weight]["step"].item() == 1


def test_nonfinite_tensors_names_them():
    state = {"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")]), "n": torch.tensor([3])}
    assert nonfinite_tensors(state) == ["b"]


def test_step_seed_depends_on_every_counter():
    seeds = {step_seed(1, r, s, b) for r in (0, 1) for s in (0, 1) for b in (0, 1)}
    assert len(seeds) == 8
    assert step_seed(1, 0, 5, 0) == step_seed(1, 0, 5, 0)


def test_nonfinite_gradient_is_skipped_and_counted(compose_train, tmp_path):
    cfg = compose_train(
        *SHORT, "+callbacks.fault._target_=faults.NaNGradient", "+callbacks.fault.at_step=3"
    )
    with pytest.warns(UserWarning, match=r"skipped 1 optimizer step.*first at step 3"):
        train(cfg)
    rows = read_metrics(tmp_path / "run")
    assert column(rows, "train/skipped_steps")[-1] == 1.0
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["gptlab"]["skipped_steps"] == 1
    adam_steps = {int(s["step"]) for s in checkpoint["optimizer_states"][0]["state"].values()}
    assert adam_steps == {7}  # 8 optimizer steps, one of which changed nothing
    assert not nonfinite_tensors(checkpoint["state_dict"])


def test_stop_policy_saves_the_last_good_weights(compose_train, tmp_path):
    good = compose_train(
        *SHORT, "trainer.max_steps=3", "paths.output_dir=" + str(tmp_path / "good")
    )
    train(good)
    cfg = compose_train(
        *SHORT,
        "module.nonfinite=stop",
        "+callbacks.fault._target_=faults.NaNGradient",
        "+callbacks.fault.at_step=3",
    )
    with pytest.raises(NonFiniteError, match=r"at step 3 .*last.ckpt"):
        run_and_record(cfg, run_folder.begin(tmp_path / "run"), sweep=False)
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["status"] == "failed" and "non-finite" in result["error"]
    stopped = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    expected = torch.load(tmp_path / "good" / "checkpoints" / "last.ckpt", weights_only=True)
    assert stopped["global_step"] == 4  # stopped right after the faulty step
    for name, tensor in expected["state_dict"].items():
        assert torch.equal(stopped["state_dict"][name], tensor), name


def test_no_checkpoint_is_written_from_nonfinite_weights(compose_train, tmp_path):
    cfg = compose_train(
        *SHORT, "+callbacks.fault._target_=faults.NaNWeights", "+callbacks.fault.at_step=3"
    )
    with pytest.raises(NonFiniteError, match="refusing to save a checkpoint: model.ln_f.weight"):
        train(cfg)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2  # the good one from before the fault is kept
    assert not nonfinite_tensors(last["state_dict"])


def test_nonfinite_gradient_is_skipped_under_muon(compose_train, tmp_path):
    cfg = compose_train(
        *SHORT, "optim=muon", "+callbacks.fault={_target_: faults.NaNGradient, at_step: 3}"
    )
    with pytest.warns(UserWarning, match=r"skipped 1 optimizer step.*first at step 3"):
        train(cfg)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    state = checkpoint["optimizer_states"][0]
    assert state["steps_taken"] == 7  # 8 steps, one of which changed nothing
    assert {int(s["step"]) for s in state["adamw"]["state"].values()} == {7}
    assert not nonfinite_tensors(checkpoint["state_dict"])


def test_seeding_a_step_seeds_dropout_without_formatting_stack_traces(monkeypatch):
    """torch.manual_seed queues a call with a formatted stack trace for every backend that is not
    initialised (0.8 ms of host time per step on a CPU); seed_step seeds what dropout uses."""
    import traceback

    from gptlab.training.numerics import seed_step

    torch.manual_seed(5)
    expected = torch.rand(4)
    monkeypatch.setattr(traceback, "format_stack", lambda *a, **k: pytest.fail("stack formatted"))
    seed_step(5, torch.device("cpu"))
    assert torch.equal(torch.rand(4), expected)


def test_seeding_a_step_on_a_gpu_seeds_that_gpu(monkeypatch):
    import contextlib

    from gptlab.training.numerics import seed_step

    seen = []
    monkeypatch.setattr(torch.cuda, "device", lambda d: seen.append(d) or contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda s: seen.append(s))
    seed_step(7, torch.device("cuda", 1))
    assert seen == [torch.device("cuda", 1), 7]
