"""Hydra internals: the function that reports a command's errors, and the text of its messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gptlab.upstream import require


def report_hydra_errors_with(handler: Callable[[BaseException], None]) -> None:
    """Let ``handler(error)`` report what a Hydra command raises (config composition errors
    included, which happen before the task function runs); when it returns, Hydra reports as usual.

    Hydra prints its own multi-line report from ``hydra._internal.utils.run_and_report``, which
    ``hydra.main`` calls by name; it has no hook for another format.
    """
    from hydra._internal import utils as hydra_utils

    original = require(hydra_utils, "run_and_report", ["func"])
    if getattr(original, "gptlab", False):
        return

    def run_and_report(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except Exception as err:
            handler(err)
            return original(lambda failure=err: _reraise(failure))

    run_and_report.gptlab = True
    hydra_utils.run_and_report = run_and_report


def output_dir_error(err: BaseException) -> str | None:
    """One line for Hydra failing to make the job's output folder (``hydra.run.dir`` names a file,
    or a folder that cannot be written), which it does before the task runs; None for anything
    else. Told by the frame it failed in: ``run_job`` of ``hydra/core/utils.py``."""
    if not isinstance(err, OSError) or err.filename is None:
        return None
    frames, tb = [], err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    if not any(
        f.co_name == "run_job" and f.co_filename.endswith("hydra/core/utils.py") for f in frames
    ):
        return None
    why = {
        FileExistsError: "a file has its name",
        NotADirectoryError: "a file is on its path",
        PermissionError: "it is not writable",
    }.get(type(err), err.strerror or type(err).__name__)
    return (
        f"cannot make the run folder {err.filename}: {why}; choose another hydra.run.dir=... "
        "(hydra.sweep.dir=... in a multirun), paths.log_dir=... or run_name=..."
    )


def _reraise(err: BaseException) -> None:
    raise err


# lines of Hydra's and OmegaConf's error texts that are no sentences for a person: the object dump
# and the hint to set HYDRA_FULL_ERROR (its message format is not an API)
_DUMP_LINES = ("full_key:", "object_type", "reference_type", "Set the environment variable")


def one_line(err: BaseException) -> str:
    """Hydra's multi-line config error as one line: the sentences, without the object dump."""
    parts = [str(err)]
    if err.__cause__ is not None and str(err.__cause__) not in parts[0]:
        parts.append(str(err.__cause__))
    lines = [line.strip() for part in parts for line in part.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(_DUMP_LINES))
    return text.split(" Config search path:")[0]


def instantiated_key(err: BaseException) -> str | None:
    """The config key an ``InstantiationException`` names in its text (``full_key: trainer``)."""
    text = str(err)
    if "full_key: " not in text:
        return None
    return text.split("full_key: ")[1].split()[0]
