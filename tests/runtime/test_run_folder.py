"""Each start of a run writes its own record, a bad command aimed at a run changes nothing in its
folder, and a failed or signalled start leaves nothing behind (gptlab.runtime.run_folder,
gptlab.commands.hydra_callbacks.ExistingRunGuard, gptlab.commands.startup)."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from conftest import CONF_DIR, tiny, train_run
from gptlab.commands.hydra_callbacks import ExistingRunGuard
from gptlab.commands.startup import stop_signals_exit_cleanly
from gptlab.runtime import run_folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (names and bytes) and every folder name."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else ""
        for p in folder.rglob("*")
    }


def job_config(root: Path, run_dir: Path, cache_dir: Path, *overrides: str) -> DictConfig:
    """The config Hydra hands its callbacks when ``train.py`` starts a run in ``run_dir``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.root_dir={root}",
                f"paths.cache_dir={cache_dir}",
                f"hydra.run.dir={run_dir}",
                *tiny("trainer.max_steps=2", "sample.max_new_tokens=0"),
                *overrides,
            ],
            return_hydra_config=True,
        )


@pytest.fixture(scope="module")
def existing(tmp_path_factory, cache_dir) -> Path:
    """A finished run, with the Hydra record its first start wrote."""
    root = tmp_path_factory.mktemp("runs")
    run = train_run(root, root / "existing", cache_dir, *tiny("trainer.max_steps=2"))
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text("the first start's config\n")
    (run / "train.log").write_text("the first start's log\n")
    return run


BAD_AGAINST_A_RUN = [
    ["model.emb_dim=100", "model.n_heads=12"],  # an impossible architecture
    ["model.n_layers=2"],  # another shape than the checkpoint's
    ["ckpt_path={root}/nowhere.ckpt"],  # a checkpoint that is not there
    ["optim=muon"],  # another optimizer than the run's
    ["data=tokens", "data.path={root}/no_shards"],  # data that is not there
    ["seed=abc"],
    ["ckpt_path=null"],  # a fresh start over the run
]


@pytest.mark.parametrize("overrides", BAD_AGAINST_A_RUN, ids=lambda o: " ".join(o)[:30])
def test_a_bad_command_aimed_at_a_run_leaves_its_folder_as_it_was(
    existing, cache_dir, overrides, capsys
):
    before = snapshot(existing)
    root = existing.parent
    config = job_config(root, existing, cache_dir, *[o.format(root=root) for o in overrides])
    with pytest.raises(SystemExit) as stop:
        ExistingRunGuard().on_run_start(config)  # before Hydra writes its record
    assert stop.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ")
    assert snapshot(existing) == before


def test_a_bad_command_with_a_new_run_name_creates_no_folder(tmp_path, cache_dir):
    run_dir = tmp_path / "logs" / "new"
    with pytest.raises(SystemExit):
        ExistingRunGuard().on_run_start(job_config(tmp_path, run_dir, cache_dir, "seed=abc"))
    assert not (tmp_path / "logs").exists()


def test_a_resume_gets_a_record_of_its_own(existing, cache_dir):
    config = job_config(existing.parent, existing, cache_dir, "trainer.max_steps=3")
    ExistingRunGuard().on_run_start(config)
    assert config.hydra.output_subdir == ".hydra/attempt-2"  # .hydra/ stays the first start's
    assert run_folder.attempt_folder(existing) == existing / ".hydra" / "attempt-2"
    (existing / ".hydra" / "attempt-2").mkdir()
    assert run_folder.record_subdir(existing) == ".hydra/attempt-3"
    (existing / ".hydra" / "attempt-2").rmdir()


def test_a_log_folder_that_cannot_be_written_is_one_line(tmp_path, cache_dir, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit):
        ExistingRunGuard().on_run_start(
            job_config(tmp_path, tmp_path / "a_file" / "run", cache_dir)
        )
    assert "a_file is a file; choose another paths.log_dir" in capsys.readouterr().err
    # read-only (checked with os.access: the tests may run as root, whom permissions do not stop)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(SystemExit):
        ExistingRunGuard().on_run_start(job_config(tmp_path, tmp_path / "run", cache_dir))
    assert f"{tmp_path} is not writable; choose a writable paths.log_dir" in capsys.readouterr().err


def test_a_failed_start_removes_only_what_it_created(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "3")  # not the job's first process: removes nothing
    run_folder.begin(tmp_path / "new", ".hydra")
    (tmp_path / "new" / ".hydra").mkdir(parents=True)
    assert not run_folder.discard_failed_start() and (tmp_path / "new").exists()
    monkeypatch.delenv("SLURM_PROCID")

    assert run_folder.discard_failed_start() and not (tmp_path / "new").exists()

    run = tmp_path / "old"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("first")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"step 10")
    attempt = run_folder.begin(run, ".hydra")
    (run / attempt.record).mkdir()
    assert run_folder.discard_failed_start()
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == [
        ".hydra",
        ".hydra/config.yaml",
        "checkpoints",
        "checkpoints/last.ckpt",
    ]
    # a start that saved a checkpoint keeps everything
    run_folder.begin(tmp_path / "trained", ".hydra")
    (tmp_path / "trained" / "checkpoints").mkdir(parents=True)
    (tmp_path / "trained" / "checkpoints" / "last.ckpt").write_bytes(b"step 5")
    assert not run_folder.discard_failed_start() and (tmp_path / "trained").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_before_training_exits_zero_and_removes_the_new_folder(
    tmp_path, signum, capsys
):
    with pytest.raises(SystemExit) as stop, stop_signals_exit_cleanly():
        run_folder.begin(tmp_path / "run", ".hydra")
        (tmp_path / "run" / ".hydra").mkdir(parents=True)
        os.kill(os.getpid(), signum)
    assert stop.value.code == 0
    assert not (tmp_path / "run").exists()
    assert "nothing to save" in capsys.readouterr().err
    assert signal.getsignal(signum) is not None  # the handler before it is back
