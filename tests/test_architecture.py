"""The shape of the code, checked: packages import only the layers below them, no module imports
itself through others, the model knows no kernels, files stay small, product files name no
rounds of work, and nothing swaps Hydra's global state."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "gptlab"

# each package imports only packages of a lower layer (and itself)
LAYERS = [
    {"upstream"},
    {"errors"},
    {"atomic", "preemption"},
    {"model"},
    {"data"},
    {"kernels", "optim", "text", "interop"},
    {"checkpoints"},
    {"evaluation"},
    {"training"},
    {"runtime"},
    {"commands"},
    {"benchmarks", "__main__", "__init__"},
]
LAYER = {name: n for n, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """The gptlab modules ``path`` imports, at its top or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gptlab"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gptlab")}
    return {m for m in found if m in MODULES}


GRAPH = {name: imports(path) - {name} for name, path in MODULES.items()}


def test_packages_import_only_the_layers_below():
    wrong = []
    for module, targets in GRAPH.items():
        mine = package_of(module)
        for target in targets:
            theirs = package_of(target)
            if theirs != mine and LAYER[theirs] >= LAYER[mine]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_module_imports_itself_through_others():
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target == module.rsplit(".", 1)[0] and MODULES[target].name == "__init__.py":
                continue  # a module reading its own package's __init__: Python's usual order
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_the_model_knows_no_kernels():
    text = "\n".join(p.read_text() for p in (SRC / "model").glob("*.py"))
    for name in (
        "liger",
        "triton",
        "flash_attn",
        "flex_attention",
        "torchao",
        "gptlab.kernels",
        "loss_kernel",
    ):
        assert name not in text, name
    assert "fused_loss" not in text


def test_no_source_file_is_over_300_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 300
    }
    assert not long, long


ROUND = re.compile(r"\b[Rr]ounds?\b(?!\s*\()(?!-robin)")


def test_product_files_name_no_rounds_of_work():
    files = [*(ROOT / "docs").rglob("*"), *(ROOT / "scripts").rglob("*"), *SRC.rglob("*.py")]
    found = []
    for path in files:
        if path.is_file():
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if ROUND.search(line.replace("round(", "")):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not found, found
    assert not [p.name for p in (ROOT / "scripts").iterdir() if "round" in p.name]


def test_hydras_global_config_is_never_replaced():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        assert "HydraConfig.instance()" not in text, path
        assert not re.search(r"HydraConfig\.\w+\s*=", text), path
