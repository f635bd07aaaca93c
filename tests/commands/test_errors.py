"""Bad configurations and files, checked in-process the way the commands report them: one line that
names the key, file or value and what to do (tests/commands/test_cli_contract.py checks, in a few
real command lines, that such a line is all that is printed, with exit code 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import compose_run, tiny, train_run
from gptlab.commands.cli import error_message
from gptlab.commands.train import train
from gptlab.data.shards import write_shard


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, cache_dir) -> Path:
    """A finished run (and its checkpoint) plus broken data and checkpoint files."""
    root = tmp_path_factory.mktemp("bad")
    train_run(
        root, root / "existing", cache_dir, *tiny("trainer.max_steps=2", "sample.max_new_tokens=0")
    )
    (root / "truncated").mkdir()
    write_shard(root / "truncated" / "x_train_0.bin", np.arange(5000))
    write_shard(root / "truncated" / "x_val_0.bin", np.arange(5000))
    data = (root / "truncated" / "x_train_0.bin").read_bytes()
    (root / "truncated" / "x_train_0.bin").write_bytes(data[:-100])
    (root / "headerless").mkdir()
    np.arange(5000, dtype=np.uint16).tofile(root / "headerless" / "x_train_0.bin")
    np.arange(5000, dtype=np.uint16).tofile(root / "headerless" / "x_val_0.bin")
    (root / "corrupt.ckpt").write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    (root / "bigids").mkdir()  # llm.c-style shards (no manifest) with an id past the vocabulary
    write_shard(root / "bigids" / "x_train_0.bin", np.r_[np.arange(4000) % 1000, [60000]])
    write_shard(root / "bigids" / "x_val_0.bin", np.arange(4000) % 1000)
    (root / "empty_hf").mkdir()
    return root


CKPT = "existing/checkpoints/last.ckpt"
CASES = [
    # (overrides, what the one line must say)
    (["model=gpt3"], "Could not find 'model/gpt3' Available options in 'model': gpt2_124m"),
    (["data=nothing"], "Could not find 'data/nothing'"),
    (["model.n_layer=4"], "model.n_layer is not a key of model; did you mean model.n_layers?"),
    (
        ["+model.n_layer=4"],
        "model.n_layer is not an architecture setting; did you mean model.n_layers?",
    ),
    (["model.n_layers=abc"], "model.n_layers='abc' must be a positive integer"),
    (["model.n_layers=0"], "model.n_layers=0 must be a positive integer"),
    (
        ["model.emb_dim=100", "model.n_heads=12"],
        "model.emb_dim=100 must be divisible by model.n_heads=12",
    ),
    (["model.drop_rate=-0.1"], "model.drop_rate=-0.1 must be in [0, 1)"),
    (["model.mlp=geglu"], "model.mlp='geglu' must be one of ['gelu', 'relu2', 'swiglu']"),
    (["model.n_kv_heads=3"], "model.n_kv_heads=3 must divide model.n_heads=2"),
    (["model.compile=true"], "model.compile is now kernels.compile: set kernels.compile=..."),
    (["+module.compile=true"], "module.compile is now kernels.compile: set kernels.compile=..."),
    (["module.loss_kernel=liger"], "module.loss_kernel is now kernels.loss: set kernels.loss=..."),
    (["+model.fused_loss=true"], "model.fused_loss is now kernels.fused_loss"),
    (["model.context_length=200000"], "data.context_length=200000 is too long"),
    (["optim.lr=-1"], "optim.lr=-1 must be > 0"),
    (["optim.lr=abc"], "optim.lr='abc' must be a number"),  # the key and the type
    (["optim.warmup_steps=10.5"], "optim.warmup_steps=10.5 must be an integer"),
    (["data.batch_size=abc"], "data.batch_size='abc' must be an integer"),
    (["data.batch_size_schedule=[4,0]"], "data.batch_size_schedule=[4, 0] must be a list"),
    (
        ["data.batch_size_schedule=[2,4]", "data.global_batch_size=8"],
        "data.batch_size_schedule sets the sequences of each step, data.global_batch_size",
    ),
    (
        ["data.batch_size_schedule=[2,4]", "trainer.max_steps=-1"],
        "data.batch_size_schedule shares the run's steps among its sizes",
    ),
    (["trainer.max_steps=abc"], "trainer.max_steps='abc' must be a number of optimizer steps"),
    (["optim.beta1=1.5"], "optim.beta1=1.5"),
    (["optim.schedule=step"], "optim.schedule='step' must be one of"),
    (
        ["optim=muon", "optim.ns_coefficients=cubic"],
        "optim.ns_coefficients='cubic' must be one of ['torch', 'pol",
    ),
    (
        ["model.value_embeds=3"],
        "model.value_embeds=3 must be an integer from 0 to model.n_layers/2",
    ),
    (["optim=muon", "optim.adjust_lr_fn=rms"], "optim.adjust_lr_fn='rms' must be one of"),
    (["optim=sgd"], "Could not find 'optim/sgd' Available options in 'optim': adamw muon"),
    (["data.batch_size=0"], "data.batch_size=0 must be >= 1"),
    (
        ["data.global_batch_size=6"],
        "data.global_batch_size=6 is not a multiple of data.batch_size=4",
    ),
    (["data.sampling=zigzag"], "data.sampling='zigzag'"),
    (["data=tokens"], "data.path is required"),
    (["data=tokens", "data.path={root}/nowhere"], "nowhere does not exist"),
    (["data=tokens", "data.path={root}/truncated"], "x_train_0.bin: truncated or corrupt shard"),
    (["data=tokens", "data.path={root}/headerless"], "x_train_0.bin: not a token shard"),
    (["model.vocab_size=100"], "token id"),
    (["ckpt_path={root}/missing.ckpt"], "ckpt_path={root}/missing.ckpt does not exist"),
    (["ckpt_path={root}/corrupt.ckpt"], "corrupt.ckpt is not a readable gptlab checkpoint"),
    (
        ["ckpt_path={root}/" + CKPT, "model.n_layers=2"],
        "model.n_layers=1, but this run has model.n_layers=2; set model.n_layers=1",
    ),
    (["init_from={root}/" + CKPT, "model.norm=rmsnorm"], "model.norm=layernorm, but"),
    (["ckpt_path={root}/" + CKPT, "optim=muon"], "was trained with optim=adamw, but this run has"),
    (["trainer.precision=bf17"], "trainer: Precision 'bf17' is invalid"),
    (["seed=abc"], "seed='abc' must be an integer"),
    (["trainer.val_check_interval=0"], "trainer.val_check_interval=0 must be a number of steps"),
    (["trainer.devices=64"], "trainer.devices=64 would start 64 CPU processes on a machine with"),
    (["data=tokens", "data.path={root}/truncated/x_val_0.bin"], "is a file; give the folder"),
    (["data=tokens", "data.path={root}/bigids"], "token id 60000 >= model.vocab_size=50257"),
    (["+trainer.foo=1"], "unexpected keyword argument 'foo'"),
    (["init_from={root}/empty_hf"], "empty_hf"),
    (["kernels.compile_mode=fastest"], "kernels.compile_mode='fastest' must be one of"),
    (
        ["kernels.compile_options={{coordinate_descent_tunin: true}}"],
        "kernels.compile_options.coordinate_descent_tunin: not an Inductor setting",
    ),
    (["module.nonfinite=ignore"], "module.nonfinite='ignore' must be one of ['skip', 'stop']"),
    (
        ["kernels.attention=fast"],
        "kernels.attention='fast' must be one of ['auto', 'flash', 'cudnn'",
    ),
    (
        ["kernels.attention=fa4"],
        "kernels.attention=fa4 needs the flash-attn-4 package: pip install",
    ),
    (["kernels.loss=triton"], "kernels.loss='triton' must be one of ['auto',"),
    (["kernels.loss=liger"], "kernels.loss=liger needs the liger-kernel package"),
    (["kernels.float8=fp4"], "kernels.float8='fp4' must be one of [None, 'tensorwise', 'rowwise']"),
    (["kernels.float8=tensorwise"], "kernels.float8=tensorwise needs a GPU with FP8 tensor cores"),
    (["callbacks.last_checkpoint.stop_signals=[SIGFOO]"], "'SIGFOO' is not a signal name"),
    (["paths.output_dir={root}/existing", "ckpt_path=null"], "already holds a run"),
    (["test=true", "data=tokens", "data.path={root}/shards"], "has no test split"),
]


def error_of(overrides: list[str], root: Path, cache_dir: Path) -> str:
    """What the train command would print for these overrides (composition and training)."""
    try:  # composition errors come from compose_run, the others from train
        train(compose_run(root, root / "new", cache_dir, *tiny("trainer.max_steps=2"), *overrides))
    except Exception as err:
        message = error_message(err)
        assert message is not None, f"a traceback, not one line: {err!r}"
        return message
    pytest.fail(f"{overrides} ran without an error")


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_bad_input_gets_one_clear_line(workspace, cache_dir, overrides, message):
    if "{root}/shards" in " ".join(overrides):  # a corpus without a test split
        write_shard(workspace / "shards" / "x_train_0.bin", np.arange(5000) % 1000)
        write_shard(workspace / "shards" / "x_val_0.bin", np.arange(5000) % 1000)
    args = [o.format(root=workspace) for o in overrides]
    found = error_of(args, workspace, cache_dir)
    assert "\n" not in found, found  # one problem: one line
    assert message.format(root=workspace) in found


def test_every_problem_of_a_command_is_reported_at_once(workspace, cache_dir):
    """The run spec collects every check's error before anything is written: one line each."""
    message = error_of(
        ["model.n_layers=0", "optim.lr=-1", "data.batch_size=0", "trainer.max_steps=-5"],
        workspace,
        cache_dir,
    )
    lines = message.splitlines()
    assert len(lines) == 4, lines
    assert {line.split("=")[0] for line in lines} == {
        "trainer.max_steps", "model.n_layers", "optim.lr", "data.batch_size"
    }  # fmt: skip


def test_an_empty_run_name_is_refused_before_anything_is_written(workspace, cache_dir):
    assert "run_name is empty" in error_of(["run_name=' '"], workspace, cache_dir)


def test_more_gpus_than_visible_are_refused_at_start(monkeypatch):
    import torch

    from gptlab.runtime.devices import check_device_count

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    for devices in (8, [0, 3]):
        with pytest.raises(Exception) as refused:
            check_device_count("auto", devices)
        assert error_message(refused.value) == (
            f"trainer.devices={devices} asks for more GPUs than the 2 visible on this node "
            "(CUDA_VISIBLE_DEVICES=0,1); use trainer.devices=2 or fewer, or 'auto'"
        )
    check_device_count("gpu", 2)  # as many as there are: fine
    check_device_count("auto", "auto")
