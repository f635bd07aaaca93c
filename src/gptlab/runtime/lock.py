"""One writer per run folder: a lock file that names its holder, and that a dead holder does not keep.

``<run>/.lock`` holds the holder's PID, host, the start time of that process (Linux's
``/proc/<pid>/stat``), the boot, and its SLURM job id. A second start of the same run refuses at
once with one line naming the holder. A lock is **stale**, and is taken over, when:

- the holder ran on this host (and this boot) and its PID is gone, or is now another process
  (PID reuse: another start time);
- the holder was this very SLURM job (a requeued job starts again while the old one is gone:
  SLURM runs one instance of a job at a time);
- the holder ran on another host and stopped renewing its lease: a live holder touches the file
  every ``RENEW_S`` seconds, and a file older than ``LEASE_S`` is left by a process that died with
  its node.

Stdlib only: the entry points use it before torch is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

from gptlab.errors import GptlabError

LOCK_FILE = ".lock"
RENEW_S = 60.0
LEASE_S = 300.0


class RunLocked(GptlabError):
    """The run folder is in use by another live process."""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the command name in parentheses


def boot_id() -> str | None:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def this_process() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "process_start": process_start(pid),
        "boot_id": boot_id(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "token": secrets.token_hex(8),
    }


def stale(holder: dict[str, Any], lock_age_s: float) -> bool:
    """Whether the process that wrote ``holder`` can no longer be running (module docstring)."""
    me = this_process()
    job = holder.get("slurm_job_id")
    if job and job == me["slurm_job_id"] and holder.get("pid") != me["pid"]:
        return True
    same_machine = holder.get("host") == me["host"] and holder.get("boot_id") == me["boot_id"]
    if same_machine:
        pid = int(holder.get("pid", -1))
        if pid < 0 or not alive(pid):
            return True
        started = holder.get("process_start")
        return started is not None and process_start(pid) not in (None, started)
    return lock_age_s > LEASE_S


class RunLock:
    """``acquire()`` the lock of ``run_dir`` or raise :class:`RunLocked`; ``release()`` it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self.holder: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        me = this_process()
        for _ in range(3):  # a stale lock is removed and the creation tried again
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.holder = me
            self._start_renewing()
            return
        raise RunLocked(f"cannot lock {self.path.parent}: {self.path} keeps reappearing")

    def _refuse_or_clear(self) -> None:
        try:
            holder = json.loads(self.path.read_text() or "{}")
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return  # released meanwhile: try again
        except (OSError, ValueError):
            holder, age = {}, LEASE_S + 1  # unreadable: a writer that died half-way
        if stale(holder, age):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        raise RunLocked(
            f"{self.path.parent} is in use by PID {holder.get('pid')} on {holder.get('host')} "
            f"(since {holder.get('since')}): two processes must not write one run; wait for it "
            "to end or stop it, or pick another run_name (a lock left by a process that died "
            "is taken over by the next start)"
        )

    def _start_renewing(self) -> None:
        def renew() -> None:
            while not self._stop.wait(RENEW_S):
                with contextlib.suppress(OSError):
                    os.utime(self.path)

        self._stop.clear()
        self._renewer = threading.Thread(target=renew, daemon=True, name="run-lock-lease")
        self._renewer.start()

    def release(self) -> None:
        """Remove the lock if it is still this process's."""
        self._stop.set()
        if self.holder is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text()).get("token") == self.holder["token"]:
                self.path.unlink()
        self.holder = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
