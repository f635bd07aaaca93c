"""generate.py and eval.py as a user runs them, on a checkpoint made by train.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY


def run(script: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    result = run("train.py", folder, *TINY, "run_name=tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "logs" / "train" / "runs" / "tiny" / "checkpoints" / "last.ckpt"


def test_generate_streams_a_continuation(checkpoint, tmp_path):
    result = run(
        "generate.py", tmp_path, f"ckpt_path={checkpoint}", "prompt=The class", "max_new_tokens=5"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The class")
    assert not list(tmp_path.iterdir())  # generation writes no run folder


def test_greedy_samples_are_identical_and_long_prompts_are_cropped(checkpoint, tmp_path):
    prompt = "word " * 100  # more tokens than the tiny model's 32-token context
    result = run(
        "generate.py",
        tmp_path,
        f"ckpt_path={checkpoint}",
        f"prompt={prompt}",
        "temperature=0",
        "num_samples=2",
        "max_new_tokens=4",
    )
    assert result.returncode == 0, result.stderr
    assert "keeping its last 32" in result.stderr
    samples = result.stdout.split("--- sample ")[1:]
    assert len(samples) == 2 and samples[0][1:] == samples[1][1:]


def test_generate_without_a_model_is_one_line(tmp_path):
    result = run("generate.py", tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: set exactly one of ckpt_path=<gptlab .ckpt> or init_from=<Hugging Face folder>"
    )


def test_eval_reports_loss_and_perplexity(checkpoint, tmp_path):
    result = run(
        "eval.py",
        tmp_path,
        f"ckpt_path={checkpoint}",
        "trainer.accelerator=cpu",
        "trainer.limit_val_batches=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    loss, ppl = (float(part.split("=")[1]) for part in last.split())
    assert last.startswith("val/loss=") and 0 < loss < 11
    assert ppl == pytest.approx(2.718281828**loss, rel=1e-3)


def test_eval_names_a_missing_checkpoint(tmp_path):
    result = run("eval.py", tmp_path, "ckpt_path=missing.ckpt")
    assert result.returncode == 2
    assert "error: ckpt_path=missing.ckpt does not exist" in result.stderr
