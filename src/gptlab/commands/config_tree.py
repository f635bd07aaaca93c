"""The composed config as a Rich tree: printed at the start of a run and saved beside it."""

from __future__ import annotations

from pathlib import Path

import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

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


def print_config(cfg: DictConfig, save_to: Path | None = None) -> None:
    tree = config_tree(cfg)
    rich.print(tree)
    if save_to is not None:
        save_to.parent.mkdir(parents=True, exist_ok=True)
        with open(save_to, "w") as f:
            rich.print(tree, file=f)
