"""SIGTERM/SIGUSR1 (SLURM's warnings) save last.ckpt and stop cleanly; a requeued job resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_resume import RUN

from conftest import ROOT, checkpoint_step
from gptlab.training.preemption import signal_number

STEPS = 80
PREEMPTIBLE = [a for a in RUN if not a.startswith(("trainer.max_steps", "callbacks.last"))] + [
    f"trainer.max_steps={STEPS}",
    "callbacks.last_checkpoint.every_n_train_steps=5",
    "sample.max_new_tokens=4",
    "logger=csv",
]


def command(run_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "train.py"), *PREEMPTIBLE, f"hydra.run.dir={run_dir}"]


def interrupt(run_dir: Path, signum: int, env: dict[str, str]) -> tuple[int, int, str]:
    """Start a run, send ``signum`` once it has saved a checkpoint; (exit code, saved step, log)."""
    last = run_dir / "checkpoints" / "last.ckpt"
    process = subprocess.Popen(
        command(run_dir), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 240
    while checkpoint_step(last) < 5 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=240)
    return process.returncode, checkpoint_step(last), output


@pytest.mark.slow
def test_sigterm_saves_last_checkpoint_after_the_step_and_exits_cleanly(tmp_path):
    code, step, output = interrupt(tmp_path / "run", signal.SIGTERM, dict(os.environ))
    assert code == 0, output[-3000:]
    assert 5 <= step < STEPS
    assert f"stopped on a signal at step {step}" in output
    assert "Sample from the trained model" not in output  # no extra work before the kill


@pytest.mark.slow
def test_sigusr1_in_a_slurm_job_requeues_it_and_the_next_start_resumes(tmp_path):
    calls = tmp_path / "scontrol_calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"  # stands in for SLURM's: records what it was asked
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        # a one-task SLURM job: Lightning sees it too (and would install its own handler)
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "gptlab",
        "SLURM_NTASKS": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "localhost",
    }
    run_dir = tmp_path / "job4242"
    code, step, output = interrupt(run_dir, signal.SIGUSR1, env)
    assert code == 0, output[-3000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert 5 <= step < STEPS
    assert not list(run_dir.rglob("hpc_ckpt*"))  # Lightning's own mid-step save did not run

    # SLURM starts the job's script again: the same command resumes and finishes the run
    again = subprocess.run(command(run_dir), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Restoring states from the checkpoint path at {run_dir}" in again.stdout + again.stderr
    assert checkpoint_step(run_dir / "checkpoints" / "last.ckpt") == STEPS


def test_signal_names_are_checked():
    assert signal_number("USR1") == signal.SIGUSR1
    with pytest.raises(ValueError, match="'SIGFOO' is not a signal name"):
        signal_number("SIGFOO")


def test_ctrl_c_asks_for_a_clean_stop_and_a_second_one_stops_at_once():
    from gptlab.training.callbacks import LastCheckpoint
    from gptlab.training.preemption import StopRequest

    assert "SIGINT" in [s.name for s in LastCheckpoint(dirpath="x").stop_request.signals]
    request = StopRequest(["SIGINT"], [])
    request.install()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert request.stop and not request.requeue  # saved after the step, as SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        request.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
