"""Shared fixtures and helpers: the real Hydra configs with one tiny override set, and one way to
run a command as a user would."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

# tiny models gain nothing from threads; the test workers (one per core) and the processes they
# start would only compete for the cores: one thread each (set before torch is imported)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# a model and run small enough for a 2-core CPU: seconds, not minutes
TINY = [
    "data=pydoc",  # tokenized once per test session (paths.cache_dir); the default corpus is prepared per folder
    "model.context_length=32",
    "model.emb_dim=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.max_steps=20",
    "trainer.val_check_interval=10",
    "trainer.limit_val_batches=4",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "sample.max_new_tokens=4",
    "print_config=false",
    "logger=csv",
]


# a run that checkpoints every 4 steps and logs every step (resume, kill and signal tests)
RESUMABLE = [
    "data=pydoc",
    "model.context_length=32",
    "model.emb_dim=32",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.drop_rate=0.1",  # dropout too: its masks must repeat after the resume
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.max_steps=40",
    "trainer.val_check_interval=1000",
    "trainer.limit_val_batches=0",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "callbacks.last_checkpoint.every_n_train_steps=4",
    "sample.max_new_tokens=0",
    "print_config=false",
    "logger=csv",
]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: a worker per core, at most 4 (each trains; more only share the disk and RAM)."""
    return max(1, min(4, os.cpu_count() or 1))


def tiny(*overrides: str) -> list[str]:
    """TINY with ``overrides`` replacing the keys they name."""
    keys = {o.split("=", 1)[0] for o in overrides}
    return [a for a in TINY if a.split("=", 1)[0] not in keys] + list(overrides)


def run_cli(
    script: str, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """``python <script> ARGS`` from ``cwd`` as a user runs it (``script``: train.py, eval.py,
    generate.py, or ``-m gptlab ...``); W&B offline, no inherited HYDRA_FULL_ERROR."""
    base = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "WANDB_MODE")}
    command = (
        [sys.executable, *script.split()]
        if script.startswith("-m")
        else [
            sys.executable,
            str(ROOT / script),
        ]
    )
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key)]


def checkpoint_step(path: Path) -> int:
    """The global step a checkpoint holds; -1 while it is missing or being written."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["global_step"]
    except Exception:
        return -1


def compose_run(root: Path, output_dir: Path, cache_dir: Path, *overrides: str) -> DictConfig:
    """``train.yaml`` composed with ``overrides``, launched from ``root``, writing ``output_dir``."""
    paths = [
        f"paths.root_dir={root}",
        f"paths.output_dir={output_dir}",
        f"paths.cache_dir={cache_dir}",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[*paths, *overrides])


def train_run(root: Path, output_dir: Path, cache_dir: Path, *overrides: str) -> Path:
    """A finished tiny run in ``output_dir`` (trained in-process); returns ``output_dir``."""
    from gptlab.commands.train import train

    train(compose_run(root, output_dir, cache_dir, *overrides))
    return output_dir


def start_job(root: Path, run_dir: Path, cache_dir: Path, *overrides: str) -> int | None:
    """One start of ``python train.py ... hydra.run.dir=<run_dir>`` as its Hydra job runs it, in
    this process: Hydra has made the folder; the job checks, locks, records and trains a tiny
    2-step run (``overrides`` on top). Returns its exit code (None: 0)."""
    from omegaconf import OmegaConf

    from gptlab.commands.cli import user_errors
    from gptlab.commands.train import run_and_record
    from gptlab.runtime import run_folder

    base = tiny("trainer.max_steps=2", "sample.max_new_tokens=0")
    cfg = compose_run(root, run_dir, cache_dir, *base, *overrides)
    hydra_config = OmegaConf.create({"overrides": {"task": list(overrides)}})
    run_dir.mkdir(parents=True, exist_ok=True)  # what Hydra does before the job
    attempt = run_folder.begin(run_dir, records=True)
    try:
        with user_errors(cleanup=run_folder.discard_failed_start):
            run_and_record(cfg, attempt, sweep=False, hydra_config=hydra_config)
    except SystemExit as stop:
        return stop.code
    return None


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tokenization cache for the whole test session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def compose_train(tmp_path: Path, cache_dir: Path) -> Callable[..., DictConfig]:
    """compose_train(*overrides) -> the composed train config, writing into tmp_path / "run"."""

    def _compose(*overrides: str, tiny_run: bool = True) -> DictConfig:
        base = tiny(*overrides) if tiny_run else list(overrides)
        return compose_run(tmp_path, tmp_path / "run", cache_dir, *base)

    return _compose


# a few hand-made HellaSwag examples in the original file format (hellaswag_val.jsonl)
HELLASWAG_EXAMPLES = [
    {
        "ind": 0,
        "activity_label": "Cooking",
        "ctx_a": "A man stands in a kitchen.",
        "ctx_b": "he",
        "ctx": "A man stands in a kitchen. he",
        "endings": [
            "cracks two eggs into a bowl and whisks them.",
            "swims across the kitchen floor.",
            "is a kitchen.",
            "flies the pan to the moon and back.",
        ],
        "label": 0,
        "split": "val",
        "split_type": "indomain",
        "source_id": "hand-made",
    },
    {
        "ind": 1,
        "ctx": "The function returns a list of names. The caller",
        "endings": [
            "sorts the list and prints each name.",
            "the the the the.",
            "import import return def class.",
            "is purple yesterday.",
        ],
        "label": 0,
    },
    {
        "ind": 2,
        "ctx": "She opens the door and",
        "endings": ["walks in.", "door door.", "the opens.", "in and and and it."],
        "label": 0,
    },
    {
        "ind": 3,
        "ctx": "To install the package, run",
        "endings": ["banana.", "pip install package.", "seven.", "the the."],
        "label": 1,
    },
    {
        "ind": 4,
        "ctx": "Python is a programming language. It",
        "endings": ["is.", "a.", "ran.", "is widely used for scripting and data analysis."],
        "label": 3,
    },
]


def write_hellaswag(path: Path) -> Path:
    import json

    path.write_text("".join(json.dumps(example) + "\n" for example in HELLASWAG_EXAMPLES))
    return path
