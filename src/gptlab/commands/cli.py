"""Turning user errors into one line and a non-zero exit, for every command-line entry point."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from gptlab.errors import user_error
from gptlab.runtime.moved import moved_key_error
from gptlab.upstream.hydra import one_line

EXIT_USER_ERROR = 2


def print_error(message: object) -> None:
    """``error: <line>`` on stderr for each line of ``message``."""
    for line in str(message).splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def user_errors(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Print ``error: <message>`` and exit 2 for user errors; HYDRA_FULL_ERROR=1 shows the traceback.
    ``cleanup`` runs first (the train command removes a run folder its failed start created)."""
    try:
        yield
    except Exception as err:
        message = error_message(err)
        if cleanup is not None and (message is not None or isinstance(err, OSError)):
            cleanup()
        if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print_error(message)
        sys.exit(EXIT_USER_ERROR)


def error_message(err: BaseException) -> str | None:
    """What a command prints for ``err`` (one line per problem); None when it is no user or config
    error (a bug, shown with its traceback)."""
    found = user_error(err)
    if found is not None:
        return str(found)
    if isinstance(err, (HydraException, OmegaConfBaseException)):
        text = one_line(err)
        return str(moved_key_error(text) or text)
    return None


def _report(err: BaseException) -> None:
    """One ``error:`` line and exit 2 for user and config errors; anything else is Hydra's."""
    message = error_message(err)
    if message is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
        return
    print_error(message)
    sys.exit(EXIT_USER_ERROR)


def one_line_config_errors() -> None:
    """Make Hydra report config errors (unknown group option, misspelled key, bad override) as one
    ``error:`` line with exit code 2, like gptlab's own errors; HYDRA_FULL_ERROR=1 keeps Hydra's
    full report. Other exceptions are reported by Hydra as before."""
    from gptlab.upstream.hydra import report_hydra_errors_with

    report_hydra_errors_with(_report)


# Lightning's notices that a new user reads as trouble or advertising
QUIET = ("💡 Tip:", "Trainer already configured with model summary")


def quiet_lightning_notices() -> None:
    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(QUIET)

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(keep)
    # Lightning 2.6 with torch >= 2.10: a deprecation inside Lightning, nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # gptlab's data modules restore the loader's position themselves (exact resume, tested)
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable")
    # best and last checkpoints share checkpoints/; a resumed run finds it full, as it should
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
