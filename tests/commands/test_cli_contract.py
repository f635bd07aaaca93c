"""The command-line contract for bad input, in real command lines: exit code 2, one ``error:`` line
and nothing else, no traceback, and the existing run folder left as it was. (Every message itself
is checked in-process in tests/commands/test_errors.py.)"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import run_cli, tiny, train_run

pytestmark = pytest.mark.slow
RUN = tiny("trainer.max_steps=2", "sample.max_new_tokens=0")


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, cache_dir) -> Path:
    """A finished run where train.py would put it (trained in-process: faster, same folder)."""
    root = tmp_path_factory.mktemp("contract")
    run = train_run(root, root / EXISTING, cache_dir, *RUN)
    (run / ".hydra").mkdir()  # what its first start through train.py also wrote
    (run / ".hydra" / "config.yaml").write_text("the first start's config\n")
    (run / "train.log").write_text("the first start's log\n")
    return root


EXISTING = "logs/train/runs/existing"
CASES = [  # aimed at the existing run: its record, log and checkpoints stay byte for byte
    (["run_name=existing", "model.emb_dim=100", "model.n_heads=12"], "model.emb_dim=100"),
]


@pytest.mark.parametrize(("overrides", "message"), CASES, ids=[c[0][0][:30] for c in CASES])
def test_one_line_exit_two_nothing_touched(workspace, overrides, message):
    before = snapshot(workspace / EXISTING)
    result = run_cli(
        "train.py", *RUN, *[o.format(root=workspace) for o in overrides], cwd=workspace
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0]
    assert message.format(root=workspace) in errors[0]
    assert snapshot(workspace / EXISTING) == before


def test_python_m_gptlab_runs_the_same_commands(workspace):
    # an error Hydra meets before the task runs (making the run folder where a file is), through
    # `python -m gptlab train`
    (workspace / "a_file").write_text("mine\n")
    result = run_cli("-m gptlab train", *RUN, f"hydra.run.dir={workspace}/a_file", cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot make the run folder {workspace}/a_file: a file has its name; choose "
        "another hydra.run.dir=... (hydra.sweep.dir=... in a multirun), paths.log_dir=... or "
        "run_name=..."
    ]
    assert (workspace / "a_file").read_text() == "mine\n"


def test_hydra_full_error_asks_for_the_traceback_instead_of_the_line(monkeypatch, capsys):
    from gptlab.commands.cli import _report, user_errors
    from gptlab.errors import ConfigError

    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError), user_errors():  # raised on: Hydra prints the traceback
        raise ConfigError("model.n_layers=0 must be a positive integer")
    _report(ConfigError("model.n_layers=0"))  # returns: Hydra's own full report follows
    assert capsys.readouterr().err == ""
