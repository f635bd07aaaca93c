"""A process killed while writing a checkpoint leaves the previous checkpoint whole and loadable."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gptlab.atomic import torch_save as atomic_save
from gptlab.checkpoints.io import AtomicCheckpointIO
from gptlab.runtime.build import build
from gptlab.runtime.spec import build_spec

# writes checkpoints of 100 MB to argv[1] in a loop: step n holds a tensor full of n
WRITER = """
import sys, torch
from gptlab.atomic import torch_save as atomic_save
for step in range(1, 1000):
    atomic_save({"global_step": step, "weights": torch.full((25_000_000,), float(step))}, sys.argv[1])
"""


def writes_in_progress(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".last.ckpt.tmp-*") if p.stat().st_size > 1 << 20]


def test_sigkill_during_a_write_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    for _ in range(2):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        deadline = time.time() + 120
        # wait for a whole checkpoint, then for the next one to be half written, and kill
        while not (path.exists() and writes_in_progress(tmp_path)) and time.time() < deadline:
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert writes_in_progress(tmp_path), "the writer should die in the middle of a write"
        checkpoint = torch.load(path, weights_only=True)
        step = checkpoint["global_step"]
        assert torch.equal(checkpoint["weights"], torch.full((25_000_000,), float(step)))


def test_a_write_after_a_killed_one_removes_its_leftovers(tmp_path):
    leftover = tmp_path / ".last.ckpt.tmp-999999"
    leftover.write_bytes(b"half a checkpoint")
    atomic_save({"global_step": 1}, tmp_path / "last.ckpt")
    assert not leftover.exists()
    assert torch.load(tmp_path / "last.ckpt", weights_only=True) == {"global_step": 1}


def test_the_trainer_writes_checkpoints_atomically(compose_train):
    trainer = build(build_spec(compose_train())).trainer
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_background_write_holds_the_state_of_the_save_call(tmp_path):
    weight = torch.ones(1000)
    io = AtomicCheckpointIO(background=True)
    io.save_checkpoint({"state_dict": {"w": weight, "tied": weight}}, tmp_path / "last.ckpt")
    weight.add_(1)  # training goes on while the file is written
    io.teardown()
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(saved["w"], torch.ones(1000))
    assert saved["w"].untyped_storage().data_ptr() == saved["tied"].untyped_storage().data_ptr()


def test_a_failed_background_write_is_raised(tmp_path):
    io = AtomicCheckpointIO(background=True)
    (tmp_path / "file").write_text("not a folder")
    io.save_checkpoint({"x": torch.ones(1)}, tmp_path / "file" / "last.ckpt")
    with pytest.raises(OSError):
        io.teardown()
