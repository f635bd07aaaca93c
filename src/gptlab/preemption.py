"""Preemption: a signal asks the run to stop; it stops at the next step with ``last.ckpt`` saved.

Ctrl-C (SIGINT) does the same, so an interactive run keeps its work; a second Ctrl-C stops at once.

SLURM warns a job before killing it: ``#SBATCH --signal=USR1@120`` sends SIGUSR1 two minutes before
the time limit, and preemption or ``scancel`` send SIGTERM. The handler only records the signal;
the training loop acts on it between steps, where the state is consistent.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from types import FrameType

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def signal_number(name: str) -> signal.Signals:
    try:
        return signal.Signals[name if name.startswith("SIG") else f"SIG{name}"]
    except KeyError:
        raise ValueError(f"{name!r} is not a signal name such as SIGTERM or SIGUSR1") from None


# what a person or a scheduler stops a job with; SLURM's scancel and preemption, and Ctrl-C in a
# terminal, send them to every process of the job, DataLoader workers included
JOB_STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2")


def ignore_stop_signals(worker_id: int) -> None:
    """A DataLoader's ``worker_init_fn``: the worker leaves stop signals to the main process.

    A worker that dies of SIGTERM makes the main process fail at its next batch ("DataLoader
    worker is killed by signal"), before it can finish the step and save ``last.ckpt``. Ignoring
    costs nothing: torch's workers exit when their main process has gone."""
    for name in JOB_STOP_SIGNALS:
        signal.signal(signal_number(name), signal.SIG_IGN)


class StopRequest:
    """Records which of ``signals`` arrived; ``requeue`` marks those that ask for a requeue."""

    def __init__(self, signals: list[str], requeue: list[str]) -> None:
        self.signals = [signal_number(s) for s in signals]
        self.requeue_signals = {signal_number(s) for s in requeue}
        self.stop = False
        self.requeue = False
        self._previous: dict[signal.Signals, object] = {}

    def install(self) -> None:
        """Replace the handlers (Lightning's too: its SLURM handler saves in the middle of a step).
        A signal this process was started ignoring (SIGINT under nohup or in a background job)
        stays ignored: it is not meant for the run."""
        for signum in self.signals:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.stop:  # Ctrl-C twice: stop now, without saving
            raise KeyboardInterrupt
        log.warning("received %s: stopping after this step", signal.Signals(signum).name)
        if signum == signal.SIGINT:
            log.warning("press Ctrl-C again to stop at once, without saving")
        self.stop = True
        self.requeue |= signum in self.requeue_signals

    def agreed(self, world_size: int, device: torch.device) -> tuple[bool, bool]:
        """(stop, requeue) as every rank sees it: any rank's signal stops all of them together."""
        if world_size == 1 or not dist.is_initialized():
            return self.stop, self.requeue
        flags = torch.tensor([self.stop, self.requeue], dtype=torch.int32, device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, requeue = flags.tolist()
        return bool(stop), bool(requeue)


def slurm_job_id() -> str | None:
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_job:
        return f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def requeue_slurm_job() -> bool:
    """``scontrol requeue`` this job: SLURM runs its script again, under the same job id."""
    job_id = slurm_job_id()
    if not job_id or not re.fullmatch(r"[0-9_]+", job_id):
        log.warning("not requeued: not a SLURM job (SLURM_JOB_ID is not set)")
        return False
    try:
        result = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    except FileNotFoundError:
        log.warning("not requeued: scontrol is not on PATH")
        return False
    if result.returncode:
        log.warning("scontrol requeue %s failed: %s", job_id, result.stderr.strip())
        return False
    log.warning("requeued SLURM job %s: it resumes from last.ckpt when it starts again", job_id)
    return True
