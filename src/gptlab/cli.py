"""Turning user errors into one line and a non-zero exit, for every command-line entry point."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from omegaconf.errors import MissingMandatoryValue

from gptlab.errors import ConfigError, GptlabError

EXIT_USER_ERROR = 2


def find_user_error(err: BaseException) -> GptlabError | None:
    """The GptlabError behind ``err``, looking through wrappers such as Hydra's InstantiationException."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, GptlabError):
            return current
        if isinstance(current, MissingMandatoryValue):
            key = current.full_key or "a required key"
            return ConfigError(f"{key} is required (it is ??? in the config); set it: {key}=...")
        if type(current).__name__ == "MisconfigurationException":  # Lightning's "you asked for X"
            return ConfigError(" ".join(str(current).split()))
        if type(current).__name__ == "InstantiationException" and isinstance(
            current.__cause__, (ValueError, TypeError, ImportError)
        ):  # a value, key or package the target refused, e.g. trainer.precision=bf17
            text = str(current)
            where = text.split("full_key: ")[1].split()[0] if "full_key: " in text else "config"
            return ConfigError(f"{where}: {' '.join(str(current.__cause__).split())}")
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print ``error: <message>`` and exit 2 for user errors; HYDRA_FULL_ERROR=1 shows the traceback."""
    try:
        yield
    except Exception as err:
        user_error = find_user_error(err)
        if user_error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {user_error}", file=sys.stderr, flush=True)
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


def one_line_config_errors() -> None:
    """Make Hydra report config errors (unknown group option, misspelled key, bad override) as one
    ``error:`` line with exit code 2, like gptlab's own errors; HYDRA_FULL_ERROR=1 keeps Hydra's
    full report. Other exceptions are reported by Hydra as before."""
    from hydra._internal import utils as hydra_utils
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    original = hydra_utils.run_and_report
    if getattr(original, "gptlab", False):
        return

    def run_and_report(func):  # noqa: ANN001, ANN202 - Hydra's signature
        try:
            return func()
        except Exception as err:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            user_error = find_user_error(err)
            if user_error is None and not isinstance(err, (HydraException, OmegaConfBaseException)):
                return original(lambda failure=err: _reraise(failure))
            print(
                f"error: {user_error if user_error else _one_line(err)}",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(EXIT_USER_ERROR)

    run_and_report.gptlab = True
    hydra_utils.run_and_report = run_and_report


def _reraise(err: BaseException):
    raise err
