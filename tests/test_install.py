"""A non-editable install (what `pip install .` puts into site-packages) runs the commands from an
empty folder: the package finds its configs without a source checkout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, tiny

pytestmark = pytest.mark.slow


def test_installed_package_trains_from_an_empty_folder(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert (site / "gptlab" / "conf" / "train.yaml").is_file()
    sources = {p.relative_to(ROOT / "src") for p in (ROOT / "src").rglob("*.py")}
    installed = {p.relative_to(site) for p in site.rglob("*.py")}
    assert sources <= installed, f"not installed: {sorted(map(str, sources - installed))}"
    configs = {p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml")}
    assert configs == {
        p.relative_to(site / "gptlab" / "conf") for p in site.rglob("conf/**/*.yaml")
    }
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-m", "gptlab", "train", *tiny("trainer.max_steps=3"), "run_name=x"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (empty / "logs" / "train" / "runs" / "x" / "checkpoints" / "last.ckpt").is_file()
    where = subprocess.run(
        [sys.executable, "-c", "import gptlab.commands as c; print(c.__file__, c.conf_dir())"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
    )
    assert str(site) in where.stdout.split()[0] and str(site) in where.stdout.split()[1]
