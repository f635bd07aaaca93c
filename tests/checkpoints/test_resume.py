"""A run killed with SIGKILL and resumed from last.ckpt continues exactly as if never stopped."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RESUMABLE as RUN
from conftest import ROOT, checkpoint_step
from gptlab.commands.train import train


def command(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *RUN, f"hydra.run.dir={run_dir}", *extra]


def losses(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return {
            int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")
        }


# the random order resumes the same way (tests/data/test_sampling.py); one end-to-end case here
@pytest.mark.slow
@pytest.mark.parametrize("optim", ["adamw"])  # Muon's exact resume: the in-process test below
def test_sigkill_then_resume_gives_the_uninterrupted_losses(tmp_path, compose_train, optim):
    reference = tmp_path / "reference"
    train(compose_train(*RUN, f"optim={optim}", f"paths.output_dir={reference}", tiny_run=False))
    expected = losses(reference)
    assert len(expected) == 40

    run_dir = tmp_path / "killed"
    process = subprocess.Popen(
        command(run_dir, f"optim={optim}"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while checkpoint_step(last) < 12 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = checkpoint_step(last)
    assert 12 <= resumed_from < 40, "the run should be killed mid-way"

    # the resume, in-process (the command line of a resume: the SIGUSR1 requeue test)
    train(compose_train(*RUN, f"optim={optim}", f"paths.output_dir={run_dir}", tiny_run=False))
    after = {step: loss for step, loss in losses(run_dir).items() if step > resumed_from}
    assert sorted(after) == list(range(resumed_from + 1, 41))
    for step, loss in after.items():
        assert loss == pytest.approx(expected[step], abs=1e-6), f"step {step}"
    assert checkpoint_step(last) == 40  # and last.ckpt is written at the end


def test_resume_last_without_a_checkpoint_starts_fresh(compose_train, tmp_path):
    train(compose_train(*RUN, "trainer.max_steps=3", "ckpt_path=last", tiny_run=False))
    assert checkpoint_step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 3


# every switch of the speedrun track: value embeddings, U-net skips, a sliding window growing
# over the run, Muon's variants
SPEEDRUN = ["model.n_layers=2", "model.value_embeds=1", "model.unet_skips=true", "optim=muon",
            "model.attn_window=24", "module.attn_window_start=4",
            "optim.ns_coefficients=polar_express", "optim.normuon=true",
            "optim.cautious_weight_decay=true", "optim.weight_decay=0.05",
            # phases of 3, 3 and 2 steps: the resume at step 4 lands inside the second
            "data.batch_size_schedule=[2,3,4]", "optim.decay_steps=8"]  # fmt: skip
MODERN = ["model=modern_124m", "model.emb_dim=32", "model.n_heads=4", "model.n_kv_heads=2",
          "model.n_layers=2", "model.context_length=32", "model.mlp=swiglu"]  # fmt: skip


@pytest.mark.parametrize(
    "switches",
    [
        pytest.param(MODERN, marks=pytest.mark.slow, id="architecture switches"),
        pytest.param(
            ["optim=muon", "optim.schedule=wsd", "optim.momentum_warmup_steps=6"], id="muon wsd"
        ),
        pytest.param(SPEEDRUN, id="speedrun switches"),
    ],
)
def test_a_run_stopped_by_max_steps_resumes_exactly(compose_train, tmp_path, switches):
    """Stopped at step 4 (max_steps), resumed to 8: the losses of the uninterrupted run (the
    architecture switches; Muon with its momentum warm-up and the wsd schedule)."""
    same = [
        *switches,
        *(
            []
            if any(s.startswith("optim.decay_steps") for s in switches)
            else ["optim.decay_steps=100"]
        ),
        "model.drop_rate=0.1",
        "trainer.val_check_interval=100",
    ]
    train(compose_train(*same, "trainer.max_steps=8", f"paths.output_dir={tmp_path / 'whole'}"))
    train(compose_train(*same, "trainer.max_steps=4", f"paths.output_dir={tmp_path / 'parts'}"))
    train(compose_train(*same, "trainer.max_steps=8", f"paths.output_dir={tmp_path / 'parts'}"))
    whole, parts = losses(tmp_path / "whole"), losses(tmp_path / "parts")
    assert sorted(parts) == list(range(1, 9)), parts
    for step in range(5, 9):
        assert parts[step] == pytest.approx(whole[step], abs=1e-6), step
    assert tokens(tmp_path / "parts") == tokens(tmp_path / "whole")
    if "data.batch_size_schedule=[2,3,4]" in switches:  # steps of 2, 2, 2, 3, 3, 3, 4, 4 sequences
        assert tokens(tmp_path / "whole")[8] == (2 * 3 + 3 * 3 + 4 * 2) * 32


def tokens(run_dir: Path) -> dict[int, float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return {
            int(r["step"]): float(r["train/tokens"])
            for r in csv.DictReader(f)
            if r.get("train/loss")
        }


def test_an_unreadable_last_checkpoint_resumes_from_the_previous_one(
    compose_train, tmp_path, caplog
):
    """last.ckpt truncated (a full disk, a copy cut short): the resume warns and continues from
    previous.ckpt, the last.ckpt before it; with neither loadable it says how to start over."""
    from gptlab.commands.cli import error_message

    run = ["trainer.max_steps=8", "callbacks.last_checkpoint.every_n_train_steps=4"]
    train(compose_train(*RUN, *run, tiny_run=False))
    folder = tmp_path / "run" / "checkpoints"
    assert checkpoint_step(folder / "last.ckpt") == 8
    assert checkpoint_step(folder / "previous.ckpt") == 4  # kept when step 8 was written
    (folder / "last.ckpt").write_bytes((folder / "last.ckpt").read_bytes()[:5000])

    train(compose_train(*RUN, *run, "trainer.max_steps=12", "ckpt_path=last", tiny_run=False))
    assert "last.ckpt does not load" in caplog.text and "resuming from previous.ckpt" in caplog.text
    assert checkpoint_step(folder / "last.ckpt") == 12
    assert checkpoint_step(folder / "previous.ckpt") == 8  # not the unreadable file
    assert (folder / "last.ckpt.unreadable").is_file()  # set aside, not deleted

    for name in ("last.ckpt", "previous.ckpt"):
        (folder / name).write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(Exception) as failed:
        train(compose_train(*RUN, *run, "trainer.max_steps=16", "ckpt_path=last", tiny_run=False))
    message = error_message(failed.value)
    assert "no checkpoint of" in message and "start over under a new name (run_name=" in message
