"""Turning user errors into one line and a non-zero exit, for every command-line entry point."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator

from hydra.errors import HydraException, InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from gptlab.errors import ConfigError, GptlabError

EXIT_USER_ERROR = 2

# keys that moved in gptlab 0.2: the run options left the architecture config
MOVED_KEYS = {
    "model.compile": "module.compile",
    "model.compile_mode": "module.compile_mode",
    "model.fused_loss": "module.fused_loss",
    "model.init_from": "module.init_from",
}


def moved_key_error(text: str) -> ConfigError | None:
    """A config error about a key that moved, as one line naming its new place."""
    for old, new in MOVED_KEYS.items():
        short = old.split(".", 1)[1]
        if re.search(rf"'{re.escape(old)}'|'{short}'", text) and "model" in text:
            return ConfigError(f"{old} is now {new}: set {new}=... instead")
    return None


def find_user_error(err: BaseException) -> GptlabError | None:
    """The GptlabError behind ``err``, looking through wrappers such as Hydra's InstantiationException."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for current in chain:  # gptlab's own message first: it names the key and the fix
        if isinstance(current, GptlabError):
            return current
    for current in chain:
        if isinstance(current, MissingMandatoryValue):
            key = current.full_key or "a required key"
            return ConfigError(f"{key} is required (it is ??? in the config); set it: {key}=...")
        if isinstance(current, MisconfigurationException):  # Lightning's "you asked for X"
            return ConfigError(" ".join(str(current).split()))
        if isinstance(current, InstantiationException) and isinstance(
            current.__cause__, (ValueError, TypeError, ImportError)
        ):  # a value, key or package the target refused, e.g. trainer.precision=bf17
            text = str(current)
            where = text.split("full_key: ")[1].split()[0] if "full_key: " in text else "config"
            return moved_key_error(f"'{where}' {current.__cause__}") or ConfigError(
                f"{where}: {' '.join(str(current.__cause__).split())}"
            )
    return None


def print_error(message: object) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def user_errors(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Print ``error: <message>`` and exit 2 for user errors; HYDRA_FULL_ERROR=1 shows the traceback.
    ``cleanup`` runs first (the train command removes a run folder its failed start created)."""
    try:
        yield
    except Exception as err:
        user_error = find_user_error(err)
        if cleanup is not None and (user_error is not None or isinstance(err, OSError)):
            cleanup()
        if user_error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print_error(user_error)
        sys.exit(EXIT_USER_ERROR)


def _one_line(err: BaseException) -> str:
    """Hydra's multi-line config error as one line: the sentences, without the object dump."""
    parts = [str(err)]
    if err.__cause__ is not None and str(err.__cause__) not in parts[0]:
        parts.append(str(err.__cause__))
    skip = ("full_key:", "object_type", "reference_type", "Set the environment variable")
    lines = [line.strip() for part in parts for line in part.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(skip))
    return text.split(" Config search path:")[0]


def error_message(err: BaseException) -> str | None:
    """The one line a command prints for ``err``; None when it is no user or config error (a bug,
    shown with its traceback)."""
    user_error = find_user_error(err)
    if user_error is not None:
        return str(user_error)
    if isinstance(err, (HydraException, OmegaConfBaseException)):
        text = _one_line(err)
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
    from gptlab.upstream import report_hydra_errors_with

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
