"""The speedrun track's results as a Markdown table, with the machine they were measured on."""

from __future__ import annotations

import datetime
import platform
import re
from pathlib import Path
from typing import Any

import torch

from gptlab import atomic


def gptlab_version() -> str:
    """The installed version, or a checkout's (``PYTHONPATH=src``, as on the GPU machines)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gptlab")
    except PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.MULTILINE)
        return found.group(1) if found else "unknown"


def environment() -> dict[str, str]:
    """The card, the versions and the date of a measurement."""
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
    return {
        "card": card or "CPU",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "gptlab": gptlab_version(),
        "date": datetime.date.today().isoformat(),
    }


COLUMNS = [("budget", "steps"), ("run", "name"), ("seeds", "seeds"),
           ("final val/loss (mean ± sd)", None), ("target", "target"), ("p", "p_value"),
           ("training s", "training_s"), ("time ratio", "time_ratio"),
           ("tokens/s", "tokens_per_s"), ("passed", "passed")]  # fmt: skip


def cell(row: dict[str, Any], key: str | None) -> str:
    if key is None:
        if row.get("val_loss_mean") is None:
            return "stopped before its end"
        sd = row.get("val_loss_sd")
        return f"{row['val_loss_mean']:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")
    value = row.get(key)
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key == "tokens_per_s":
        return f"{value:,}"
    return str(value)


def table(rows: list[dict[str, Any]], env: dict[str, str], command: str) -> str:
    lines = [
        f"{env['card']}, torch {env['torch']} (CUDA {env['cuda']}), gptlab {env['gptlab']}, "
        f"{env['date']}: `{command}`",
        "",
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell(row, key) for _, key in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_table(path: Path, rows: list[dict[str, Any]], env: dict[str, str], command: str) -> None:
    atomic.write_text(path, table(rows, env, command))
