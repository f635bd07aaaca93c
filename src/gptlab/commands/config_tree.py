"""The composed config as a Rich tree: saved in the run folder, printed on request
(``print_config=true``)."""

from __future__ import annotations

import io
from pathlib import Path

import rich
import rich.console
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

from gptlab import atomic

ORDER = ("model", "optim", "data", "trainer", "callbacks", "logger", "paths")


def config_tree(cfg: DictConfig) -> rich.tree.Tree:
    tree = rich.tree.Tree("config", style="dim")
    top = {k: v for k, v in cfg.items() if not isinstance(v, DictConfig)}
    groups = [g for g in ORDER if g in cfg] + [g for g in cfg if g not in ORDER and g not in top]
    for group in groups:
        tree.add(group, style="bold").add(
            rich.syntax.Syntax(OmegaConf.to_yaml(cfg[group], resolve=True), "yaml")
        )
    if top:
        text = OmegaConf.to_yaml(OmegaConf.create({k: cfg[k] for k in top}), resolve=True)
        tree.add("run", style="bold").add(rich.syntax.Syntax(text, "yaml"))
    return tree


def tree_text(tree: rich.tree.Tree) -> str:
    """The tree as plain text (no colours), for a file."""
    out = io.StringIO()
    rich.console.Console(file=out, width=100, color_system=None).print(tree)
    return out.getvalue()


def save_config(cfg: DictConfig, path: Path, show: bool = False) -> None:
    """Write the tree to ``path``; print it too with ``show``."""
    tree = config_tree(cfg)
    atomic.write_text(path, tree_text(tree))
    if show:
        rich.print(tree)
