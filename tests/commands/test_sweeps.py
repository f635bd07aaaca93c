"""Grid and Optuna sweeps through train.py -m, the results table and the worst-value rule."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from conftest import ROOT
from gptlab.commands.sweeps import main
from gptlab.runtime.result import WORST, score

TINY = [
    "data=pydoc",
    "model.context_length=32",
    "model.emb_dim=32",
    "model.n_heads=2",
    "data.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
    "trainer.enable_progress_bar=false",
    "print_config=false",
    "logger=csv",
    "sample.max_new_tokens=0",
]


def sweep(cwd: Path, *args: str, base: list[str] = TINY) -> Path:
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", *base, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (folder,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return folder


def read_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_grid_sweep_runs_every_job_and_writes_a_sorted_table(tmp_path):
    # a grid over an architecture switch (the jobs in parallel processes: test_tracking.py)
    folder = sweep(tmp_path, "model.mlp=gelu,swiglu", "model.pos_emb=rope")
    rows = read_rows(folder)
    assert len(rows) == 2
    assert sorted(r["job"] for r in rows) == ["0", "1"]
    values = [float(r["val/loss"]) for r in rows]
    assert values == sorted(values)
    for row in rows:
        assert row["status"] == "ok"
        assert float(row["best_val_loss"]) <= float(row["final_val_loss"])
        assert int(row["tokens_seen"]) == 6 * 4 * 32
        assert Path(row["run_dir"]).is_dir()
        result = json.loads((Path(row["run_dir"]) / "result.json").read_text())
        assert result["value"] == float(row["val/loss"])
        # a sweep's jobs keep only what a resume needs: last.ckpt, no best, no previous.ckpt
        kept = sorted(p.name for p in (Path(row["run_dir"]) / "checkpoints").iterdir())
        assert kept == ["last.ckpt"]
    assert sorted(r["overrides"].split()[-2:] for r in rows) == [
        ["model.mlp=gelu", "model.pos_emb=rope"],
        ["model.mlp=swiglu", "model.pos_emb=rope"],
    ]
    table = (folder / "results.md").read_text()
    assert "model.mlp=swiglu" in table
    # the command rebuilds the same table
    (folder / "results.md").unlink()
    assert main([str(folder)]) == 0
    assert (folder / "results.md").read_text() == table
    # and the plot of the sweep names each job by the overrides that differ
    from gptlab.commands.plot import expand, labels

    assert sorted(labels(expand([folder]))) == ["model.mlp=gelu", "model.mlp=swiglu"]


@pytest.mark.slow
def test_optuna_sweep_survives_a_failing_trial_and_continues_its_study(tmp_path):
    # emb_dim 36 is not divisible by 8 heads: such trials fail and must score the worst value
    args = ["hparams_search=optuna", "hydra.sweeper.n_trials=3", "model.emb_dim=36"]
    args += [
        "hydra.sweeper.sampler.n_startup_trials=10"
    ]  # random choices: both kinds of trial occur
    searched = [a for a in TINY if not a.startswith("model.n_heads")]  # n_heads is searched
    folder = sweep(tmp_path, *args, base=searched)
    assert folder.name == "gpt_search"
    study = optuna.load_study(study_name="gpt_search", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert len(study.trials) == 3
    rows = read_rows(folder)
    statuses = {r["status"] for r in rows}
    assert statuses == {"ok", "failed"}, rows
    failed = [t for t in study.trials if t.params["model.n_heads"] == 8]
    assert failed and all(t.value == WORST for t in failed)
    assert all(
        math.isfinite(t.value) and t.value < 20
        for t in study.trials
        if t.params["model.n_heads"] != 8
    )
    assert rows[-1]["status"] == "failed"  # worst last

    again = [a.replace("n_trials=3", "n_trials=1") for a in args]
    sweep(tmp_path, *again, base=searched)  # run again: the same study goes on
    study = optuna.load_study(study_name="gpt_search", storage=f"sqlite:///{folder / 'optuna.db'}")
    assert len(study.trials) == 4
    # a new point, not a replay of the study's first (the sampler's seed started over)
    assert study.trials[3].params != study.trials[0].params
    assert len(read_rows(folder)) == 4


def test_non_finite_or_missing_metrics_score_the_worst_value():
    assert score(2.5) == 2.5
    assert score(float("nan")) == WORST
    assert score(float("inf")) == WORST
    assert score(None) == WORST
    assert score(None, direction="maximize") == -WORST


def test_the_table_keeps_the_digits_that_rank_close_losses():
    from gptlab.commands.sweeps import _cell

    assert _cell(10.3567) != _cell(10.3579)
    assert _cell(10.35671234) == "10.3567"


def test_several_seeds_of_a_setting_get_their_spread(tmp_path):
    import yaml

    from gptlab.commands.sweeps import write_tables

    values = {("a", 1): 3.0, ("a", 2): 3.2, ("b", 1): 2.9, ("b", 2): 2.95, ("c", 1): 4.0}
    for n, ((name, seed), value) in enumerate(values.items()):
        job = tmp_path / str(n)
        (job / ".hydra").mkdir(parents=True)
        overrides = [f"model.mlp={name}", f"seed={seed}"]
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        (job / "result.json").write_text(
            json.dumps({"status": "ok", "metric": "val/loss", "value": value})
        )
    write_tables(tmp_path)
    table = (tmp_path / "results.md").read_text().split("Over seeds (val/loss):")[1]
    rows = [line for line in table.splitlines() if line.startswith("| model.mlp=")]
    assert rows == [
        "| model.mlp=b | 2 | 2.925 | 0.0353553 | 2.9 | 2.95 |",
        "| model.mlp=a | 2 | 3.1 | 0.141421 | 3 | 3.2 |",
    ]  # best mean first; a setting with one seed has no spread
