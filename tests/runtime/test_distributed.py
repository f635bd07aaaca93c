"""DDP on CPU (gloo) through train.py as users run it: single runs, sweeps, several nodes."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from conftest import ROOT, write_hellaswag
from gptlab.errors import ConfigError
from gptlab.runtime.distributed import gradient_accumulation

SMALL = [
    "data=pydoc",
    "model.context_length=32",
    "model.emb_dim=32",
    "model.n_heads=2",
    "model.drop_rate=0.0",
    "trainer.accelerator=cpu",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=2",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "print_config=false",
    "logger=csv",
    "sample.max_new_tokens=2",
]
DDP = ["trainer.devices=2", "trainer.strategy=ddp"]


def run(
    cwd: Path, *args: str, env: dict | None = None, timeout: int = 240
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def metrics(run_dir: Path, key: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


def test_gradient_accumulation_keeps_the_global_batch():
    assert gradient_accumulation(None, 8, 4) == 1
    assert gradient_accumulation(512, 16, 8) == 4
    assert gradient_accumulation(512, 16, 32) == 1
    with pytest.raises(ConfigError, match="data.global_batch_size=500 is not a multiple .* 128"):
        gradient_accumulation(500, 16, 8)


def in_process(compose_train, out: Path, *overrides: str) -> dict:
    """One process, as the reference the DDP runs must equal: its last checkpoint."""
    from gptlab.commands.train import train

    train(compose_train(*SMALL, *overrides, f"paths.output_dir={out}", tiny_run=False))
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nodes(cwd: Path, run_dir: Path, *args: str) -> list[str]:
    """``train.py ARGS`` as two nodes of one process each (NODE_RANK 0 and 1, as a cluster's
    launcher starts them): Lightning's multi-node path, with gloo on CPU. Returns their outputs."""
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    args = (*args, "trainer.strategy=ddp", "trainer.num_nodes=2", "trainer.devices=1")
    nodes = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "train.py"),
                *args,
                f"hydra.run.dir={run_dir}",
                *(["hydra.output_subdir=null"] if rank else []),
            ],  # fmt: skip
            cwd=cwd,
            env={**os.environ, **env, "NODE_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    return outputs


@pytest.mark.slow
def test_two_ranks_equal_one_process_with_the_whole_batch(tmp_path, compose_train):
    """DDP on CPU (gloo) through Lightning's multi-node path (two nodes of one process): one run
    folder written by rank 0, and the same optimisation (Muon's update across ranks; AdamW under
    DDP: the multirun test) as one process with the whole batch, whether that process takes it
    in one micro-batch or accumulates two. HellaSwag, split over the two ranks, scores what one
    process scores."""
    same = [
        "model.n_layers=1",
        "trainer.val_check_interval=1",
        "data.shuffle=false",
        "optim=muon",
        "callbacks.hellaswag.every_n_steps=2",
        f"callbacks.hellaswag.path={write_hellaswag(tmp_path / 'hellaswag.jsonl')}",
    ]
    # torch's Muon runs Newton-Schulz in bf16: rounding of a summed gradient shows at ~1e-4 after
    # 4 steps (in a few embedding entries whose Adam update is sign-like), not at 1e-5
    atol = 5e-4
    run_dir = tmp_path / "ddp"
    outputs = start_nodes(tmp_path, run_dir, *SMALL, *same, "data.batch_size=4")
    assert "GLOBAL_RANK: 1" not in outputs[0]
    assert "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" in outputs[0]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in outputs[1]
    assert (run_dir / ".hydra" / "config.yaml").is_file()  # saved once, by rank 0
    assert (run_dir / "train_rank1.log").is_file()  # rank 1 ran inside the same folder
    ddp = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ddp["global_step"] == 4
    for reference in (
        in_process(compose_train, tmp_path / "one", *same, "data.batch_size=8"),
        in_process(
            compose_train, tmp_path / "acc", *same, "data.batch_size=4", "data.global_batch_size=8"
        ),
    ):
        assert reference["global_step"] == 4
        for key, tensor in reference["state_dict"].items():
            torch.testing.assert_close(ddp["state_dict"][key], tensor, atol=atol, rtol=1e-4)
    val = metrics(run_dir, "val/loss")
    assert len(val) == 4
    ddp_scores = metrics(run_dir, "eval/hellaswag_acc_norm")
    assert len(ddp_scores) == 2  # steps 2 and 4
    assert ddp_scores == metrics(tmp_path / "one", "eval/hellaswag_acc_norm")


@pytest.mark.slow
def test_multirun_with_ddp_runs_each_job_as_two_ranks_in_its_own_folder(tmp_path):
    """Lightning's own rank command repeats ``-m ...``: every rank > 0 would start a sweep of its
    own (Lightning issue 11300). One job shows it: a second "Launching" line, a second folder."""
    result = run(tmp_path, "-m", "optim=adamw", *SMALL, *DDP, "data.batch_size=4")
    assert result.stdout.count("Launching 1 jobs") + result.stderr.count("Launching 1 jobs") == 1
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["0"]
    (job,) = jobs
    assert (job / "train_rank1.log").is_file()  # rank 1 ran inside the job's folder
    assert metrics(job, "val/loss")
    state = torch.load(job / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert state["hyper_parameters"]["optim"]["name"] == "adamw" and state["global_step"] == 4


def test_auto_strategy_picks_ddp_for_several_processes():
    from lightning.pytorch.strategies import DDPStrategy

    from gptlab.runtime.distributed import resolve_strategy

    assert resolve_strategy("auto", 1, 1) == "auto"
    assert isinstance(resolve_strategy("auto", 2, 1), DDPStrategy)
    assert isinstance(resolve_strategy("auto", 1, 2), DDPStrategy)
    assert isinstance(resolve_strategy("auto", [0, 1], 1), DDPStrategy)
    assert resolve_strategy("fsdp", 2, 1) == "fsdp"


def test_fsdp_config_shards_transformer_blocks(compose_train):
    from lightning.pytorch.strategies import FSDPStrategy

    from gptlab.model import Block

    cfg = compose_train(
        "trainer=fsdp", "trainer.strategy.activation_checkpointing=true", tiny_run=False
    )
    strategy = instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {Block}
    assert strategy._activation_checkpointing_kwargs["auto_wrap_policy"]._module_classes == {Block}
    assert strategy.sharding_strategy.name == "FULL_SHARD"
    assert strategy._state_dict_type == "full"
    assert cfg.trainer.accelerator == "gpu"
