"""Bad configurations and files: one `error:` line naming the key or file, exit code 2, no
traceback, and the run folder and checkpoint already there left untouched."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, TINY
from gptlab.data.shards import write_shard

RUN = [a for a in TINY if not a.startswith("trainer.max_steps")] + [
    "trainer.max_steps=2",
    "logger=csv",
]


def train(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A folder with a finished run (and its checkpoint) plus broken data and checkpoint files."""
    root = tmp_path_factory.mktemp("bad")
    result = train(root, *RUN, "run_name=existing")
    assert result.returncode == 0, result.stderr[-2000:]
    (root / "truncated").mkdir()
    write_shard(root / "truncated" / "x_train_0.bin", np.arange(5000))
    write_shard(root / "truncated" / "x_val_0.bin", np.arange(5000))
    data = (root / "truncated" / "x_train_0.bin").read_bytes()
    (root / "truncated" / "x_train_0.bin").write_bytes(data[:-100])
    (root / "headerless").mkdir()
    np.arange(5000, dtype=np.uint16).tofile(root / "headerless" / "x_train_0.bin")
    np.arange(5000, dtype=np.uint16).tofile(root / "headerless" / "x_val_0.bin")
    (root / "corrupt.ckpt").write_bytes(b"PK\x03\x04 definitely not a checkpoint")
    (root / "empty_hf").mkdir()
    return root


CKPT = "logs/train/runs/existing/checkpoints/last.ckpt"
CASES = [
    # (overrides, what the one line must say)
    (["model=gpt3"], "Could not find 'model/gpt3' Available options in 'model': gpt2_124m"),
    (["data=nothing"], "Could not find 'data/nothing'"),
    (["model.n_layer=4"], "Could not override 'model.n_layer'"),
    (["model.n_layers=abc"], "model.n_layers='abc' must be a positive integer"),
    (
        ["model.emb_dim=100", "model.n_heads=12"],
        "model.emb_dim=100 must be divisible by model.n_heads=12",
    ),
    (["model.drop_rate=-0.1"], "model.drop_rate=-0.1 must be in [0, 1)"),
    (["model.context_length=200000"], "data.context_length=200000 is too long"),
    (["optim.lr=-1"], "optim.lr=-1 must be > 0"),
    (["optim.beta1=1.5"], "optim.beta1=1.5"),
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
        "model.n_layers=1, but this run has model.n_layers=2",
    ),
    (["trainer.precision=bf17"], "trainer: Precision 'bf17' is invalid"),
    (["+trainer.foo=1"], "unexpected keyword argument 'foo'"),
    (["model.init_from={root}/empty_hf"], "empty_hf"),
    (["model.compile_mode=fastest"], "model.compile_mode='fastest' must be one of"),
    (["module.nonfinite=ignore"], "module.nonfinite='ignore' must be one of ['skip', 'stop']"),
    (["callbacks.last_checkpoint.stop_signals=[SIGFOO]"], "'SIGFOO' is not a signal name"),
    (["run_name=existing", "ckpt_path=null"], "already holds a run"),
]


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_bad_input_gets_one_clear_line(workspace, overrides, message):
    before = snapshot(workspace / "logs" / "train" / "runs" / "existing")
    args = [o.format(root=workspace) for o in overrides]
    result = train(workspace, *RUN, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0]
    assert message.format(root=workspace) in errors[0]
    assert snapshot(workspace / "logs" / "train" / "runs" / "existing") == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for a GPU that a CPU machine lacks")
def test_asking_for_a_missing_gpu(workspace):
    result = train(
        workspace, *[a for a in RUN if a != "trainer.accelerator=cpu"], "trainer.accelerator=gpu"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "gpu" in result.stderr.strip().splitlines()[-1].lower()


def test_full_traceback_on_request(workspace):
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *RUN, "model.n_layers=0"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "HYDRA_FULL_ERROR": "1"},
    )
    assert result.returncode != 0 and "Traceback" in result.stderr
