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

from gptlab.errors import did_you_mean, user_error
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
        return str(moved_key_error(text) or unknown_key_error(err) or grammar_hint(text))
    return None


def unknown_key_error(err: BaseException) -> str | None:
    """A key the config does not have (``model.n_layer=4``): the closest key there is, instead of
    Hydra's advice to add it with ``+``, which the group's check would refuse next."""
    current: BaseException | None = err
    while current is not None:
        node, key = getattr(current, "parent_node", None), getattr(current, "full_key", None)
        if isinstance(current, OmegaConfBaseException) and node is not None and key:
            group, _, name = str(key).rpartition(".")
            where = group or "the config"
            keys = [str(k) for k in node] if hasattr(node, "keys") else []
            return f"{key} is not a key of {where}{did_you_mean(name, keys, group or 'config')}"
        current = current.__cause__
    return None


def grammar_hint(text: str) -> str:
    """Hydra's override grammar refuses unquoted special characters: say how to quote."""
    if (
        "mismatched input" in text
        or "token recognition error" in text
        or "extraneous input" in text
    ):
        return f"{text} (quote a value with spaces or ( ) [ ] , : = in it: key='\"a value\"')"
    return text


def _report(err: BaseException) -> None:
    """One ``error:`` line and exit 2 for user and config errors; anything else is Hydra's."""
    from gptlab.upstream.hydra import output_dir_error

    message = error_message(err) or output_dir_error(err)
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


# Lightning's notices that a new user reads as trouble, advertising or noise: the devices a run
# uses are in its summary line, and gptlab says itself why training stopped
QUIET = (
    "💡 Tip:",
    "Trainer already configured with model summary",
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "`Trainer.fit` stopped:",
    "LOCAL_RANK:",
)


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
