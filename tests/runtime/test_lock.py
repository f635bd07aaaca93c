"""One writer per run folder (gptlab.runtime.lock): a second live start is refused, naming the
holder; a lock whose holder died is taken over; only a job's first process locks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import RESUMABLE, ROOT, checkpoint_step, compose_run
from gptlab.commands.train import train
from gptlab.runtime import lock, run_folder
from gptlab.runtime.lock import LOCK_FILE, RunLock, RunLocked


def holder(**changes) -> dict:
    return {**lock.this_process(), **changes}


def test_a_lock_is_stale_only_when_its_holder_cannot_be_running():
    me = lock.this_process()
    assert not lock.stale(holder(), lock_age_s=0)  # this very process
    parent = os.getppid()
    assert not lock.stale(holder(pid=parent, process_start=lock.process_start(parent)), 0)
    # the PID is gone, or is another process now (another start time)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert lock.stale(holder(pid=dead.pid), 0)
    assert lock.stale(holder(pid=parent, process_start="1"), 0)
    # another host: alive while it renews its lease
    assert not lock.stale(holder(host="node-7", pid=1), lock_age_s=lock.LEASE_S - 1)
    assert lock.stale(holder(host="node-7", pid=1), lock_age_s=lock.LEASE_S + 1)
    # the same SLURM job, requeued: the old instance is gone
    assert lock.stale(holder(host="node-7", pid=1, slurm_job_id="42"), 0) is False
    os.environ["SLURM_JOB_ID"] = "42"
    try:
        assert lock.stale(holder(host="node-7", pid=1, slurm_job_id="42"), 0)
    finally:
        del os.environ["SLURM_JOB_ID"]
    assert me["host"] == socket.gethostname()


def test_a_live_holder_renews_its_lease_and_releases_only_its_own_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "RENEW_S", 0.05)
    with RunLock(tmp_path) as held:
        path = tmp_path / LOCK_FILE
        os.utime(path, (0, 0))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 5  # touched again
        with pytest.raises(RunLocked, match=f"in use by PID {os.getpid()} on "):
            RunLock(tmp_path).acquire()
        path.write_text(json.dumps(holder(token="another")))
        held.release()
        assert path.is_file()  # not this lock's any more: left alone


def test_only_the_jobs_first_process_locks(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    attempt = run_folder.begin(tmp_path / "run")
    run_folder.claim(attempt)
    assert attempt.lock is None and not (tmp_path / "run" / LOCK_FILE).exists()


@pytest.mark.slow
def test_two_starts_of_one_run_the_second_refused_and_a_killed_holder_does_not_block(
    tmp_path, cache_dir
):
    """Two real processes on one run folder: the second refuses at once, naming the first; once
    the first is SIGKILLed, its lock does not stop ckpt_path=last from resuming."""
    run = tmp_path / "twin"
    command = [sys.executable, str(ROOT / "train.py"), *RESUMABLE, "trainer.max_steps=100000",
               f"hydra.run.dir={run}", f"paths.cache_dir={cache_dir}"]  # fmt: skip
    first = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    last = run / "checkpoints" / "last.ckpt"
    try:
        deadline = time.time() + 120
        while checkpoint_step(last) < 4 and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None and checkpoint_step(last) >= 4
        second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert first.poll() is None, "the first start still trains"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"is in use by PID {first.pid} on {socket.gethostname()}" in lines[0]
    assert not (run / ".hydra" / "attempt-2").exists()  # the refused start recorded nothing

    assert (run / LOCK_FILE).is_file()  # left by the killed holder
    step = checkpoint_step(last)
    steps = f"trainer.max_steps={step + 2}"
    train(compose_run(tmp_path, run, cache_dir, *RESUMABLE, steps, "ckpt_path=last"))
    assert checkpoint_step(last) == step + 2
    assert not (run / LOCK_FILE).exists()
