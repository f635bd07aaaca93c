"""A stop signal before training starts: exit 0 and leave nothing behind.

SLURM sends SIGTERM (preemption, ``scancel``) or SIGUSR1 (``--signal=USR1@...``) whenever it
likes, also while a job is still importing torch or reading its data. Once training runs,
:class:`~gptlab.training.callbacks.LastCheckpoint` handles them (finish the step, save, exit 0).
Before that there is nothing to save: the job exits 0 (a requeued job is not counted as failed)
and removes the run folder or attempt record it had created (:mod:`gptlab.runtime.run_folder`).
Stdlib only, so the entry points install it before the slow imports.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopSignal(BaseException):
    """A stop signal outside the training loop. A BaseException, like KeyboardInterrupt, so that
    no ``except Exception`` on the way up (Hydra's job runner) mistakes it for a failed job."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.name = signal.Signals(signum).name


_received: list[int] = []  # the stop signals that arrived inside stop_signals_exit_cleanly


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise StopSignal(signum)


def raise_pending_stop() -> None:
    """Raise a stop signal again if one arrived and its exception did not end the start.

    The handler raises wherever the signal lands, and code on the way may swallow it (a broad
    ``except`` in a library). Seen in a test: a SIGTERM landed while the config was dumped as
    YAML, and the run went on to train in full. Called where training is about to start."""
    if _received:
        raise StopSignal(_received[-1])


@contextlib.contextmanager
def stop_signals_exit_cleanly() -> Iterator[None]:
    """Inside: SIGTERM and SIGUSR1 end the command with exit code 0 and one line on stderr."""
    previous = {signum: signal.signal(signum, _raise_stop) for signum in STOP_SIGNALS}
    try:
        yield
    except StopSignal as stop:
        from gptlab.runtime import run_folder

        attempt = run_folder.current
        if attempt is not None and attempt.wrote_checkpoint():
            what = attempt.what_to_resume_from()
        else:
            removed = run_folder.discard_failed_start()
            what = "nothing to save" + (", removed what this start had written" if removed else "")
        print(f"stopped by {stop.name} outside the training steps: {what}", file=sys.stderr)
        sys.exit(0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()
