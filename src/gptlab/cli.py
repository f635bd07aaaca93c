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
