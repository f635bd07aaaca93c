"""``--help`` for every command, answered without importing torch (so in a fraction of a second).

The Hydra commands' help lists the config groups with their options (the default marked) and the
entry config's own keys with the comments of its YAML; the others print their argument parser's
help from their light ``parser()`` functions. Stdlib only.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

# name: (module run as the command, a light module with its parser(), one line on what it does)
COMMANDS = {
    "train": ("gptlab.commands.train", None, "train a model (the same as python train.py)"),
    "eval": ("gptlab.commands.evaluate", None, "loss, perplexity and bits per byte of a checkpoint, or HellaSwag"),
    "generate": ("gptlab.commands.generate", None, "text from a checkpoint or a Hugging Face folder"),
    "prepare": ("gptlab.commands.prepare", None, "tokenize a corpus into token shards"),
    "export": ("gptlab.commands.export", "gptlab.commands.export", "write a checkpoint as a Hugging Face folder"),
    "plot": ("gptlab.commands.plot", "gptlab.commands.plot", "draw the loss curves of runs, or of every job of a sweep"),
    "sweeps": ("gptlab.commands.sweeps", "gptlab.commands.sweeps", "rebuild a sweep folder's results table"),
    "bench": ("gptlab.benchmarks.throughput", "gptlab.benchmarks.bench_cli", "GPU throughput of gptlab against a plain PyTorch loop"),
    "lm_eval": ("gptlab.commands.lm_eval", "gptlab.commands.lm_eval", "the lm-evaluation-harness, with --model gptlab"),
}  # fmt: skip
# the Hydra commands: their entry config and how a user starts them
HYDRA_COMMANDS = {
    "train": ("train", "python train.py"),
    "eval": ("eval", "python eval.py"),
    "generate": ("generate", "python generate.py"),
    "prepare": ("prepare", "python -m gptlab prepare"),
}
DOCS = "docs/configuration.md"


def wants_help(args: list[str]) -> bool:
    return any(arg in ("-h", "--help") for arg in args)


def command_list() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: gptlab <command> [arguments]   (or python -m gptlab ...)", "", "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, _, what) in COMMANDS.items()]
    lines += ["", "gptlab <command> --help says what each one takes."]
    return "\n".join(lines)


def conf_root() -> Path:
    from gptlab.commands import conf_dir  # stdlib only

    return Path(conf_dir())


def defaults(text: str) -> dict[str, str]:
    """``group: option`` of an entry config's defaults list."""
    found = {}
    for line in text.split("defaults:", 1)[-1].splitlines()[1:]:
        match = re.match(r"\s+- (?:override )?([\w/]+): (\w+)", line)
        if match:
            found[match.group(1)] = match.group(2)
        elif line and not line.startswith(" "):
            break
    return found


def documented_keys(text: str) -> list[tuple[str, str]]:
    """(key, comment) of the entry config's own keys, nested ones as ``a.b``."""
    keys, parent = [], None
    for line in text.splitlines():
        match = re.match(r"^( *)([\w]+):(.*?)(?:#\s*(.*))?$", line)
        if not match or line.lstrip().startswith("-"):
            continue
        indent, key, value, comment = match.groups()
        if not indent:
            parent = key if not value.strip() else None
            if key in ("defaults", "hydra"):
                parent = None
                continue
            if value.strip():
                keys.append((key, comment or ""))
        elif parent and len(indent) == 2 and parent not in ("defaults", "hydra"):
            keys.append((f"{parent}.{key}", comment or ""))
    return keys


def hydra_help(command: str) -> str:
    config_name, usage = HYDRA_COMMANDS[command]
    root = conf_root()
    text = (root / f"{config_name}.yaml").read_text()
    chosen = defaults(text)
    lines = [f"usage: {usage} [group=option ...] [key=value ...]", "", COMMANDS[command][2] + "."]
    groups = [g for g in chosen if not g.startswith("hydra") and (root / g).is_dir()]
    if groups:
        lines += ["", "config groups (group=option; * the default):"]
        for group in groups:
            options = sorted(
                p.stem for p in (root / group).glob("*.yaml") if not p.stem.startswith("_")
            )
            shown = [f"{o}*" if o == chosen[group] else o for o in options]
            lines.append(f"  {group:<15} {', '.join(shown)}")
    keys = documented_keys(text)
    if keys:
        lines += ["", "keys (key=value):"]
        lines += [f"  {key:<24} {comment}".rstrip() for key, comment in keys]
    lines += [
        "",
        f"Every key of every group: {DOCS}. The composed config: {usage} --cfg job.",
        "Hydra's own options: --hydra-help. Values with spaces or ( ) [ ] , : = need quotes:",
        "  prompt='\"def f(x):\"'",
    ]
    return "\n".join(lines)


def command_help(command: str) -> str:
    if command in HYDRA_COMMANDS:
        return hydra_help(command)
    return importlib.import_module(COMMANDS[command][1]).parser().format_help()


def answer(command: str | None) -> None:
    """Print the help of ``command`` (None: the list of commands) and exit 0."""
    print(command_help(command) if command else command_list())
    sys.exit(0)
