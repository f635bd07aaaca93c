"""No code outside gptlab.upstream touches a private name of another library: every ``._name``
attribute and every ``_name`` imported from a module, in ``src/gptlab`` outside ``upstream/``, is a
name gptlab defines itself."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "gptlab"


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, assigned names and attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {n for n in names if private(n)}


def uses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if any(private(part) for part in module.split(".")):
                found.append((node.lineno, module))
            found += [(node.lineno, a.name) for a in node.names if private(a.name)]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name)
                for a in node.names
                if any(private(p) for p in a.name.split("."))
            ]
    return found


def test_private_upstream_names_are_used_only_in_the_adapters():
    trees = {
        path: ast.parse(path.read_text())
        for path in SRC.rglob("*.py")
        if "upstream" not in path.relative_to(SRC).parts
    }
    own = set().union(*(defined_names(tree) for tree in trees.values()))
    outside = []
    for path, tree in trees.items():
        for line, name in uses(tree):
            if name not in own:
                outside.append(f"{path.relative_to(SRC)}:{line}: {name}")
    assert not outside, "private upstream names outside gptlab.upstream:\n" + "\n".join(outside)
