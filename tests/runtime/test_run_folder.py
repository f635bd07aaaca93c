"""Each start of a run writes its own record, a refused command aimed at a run changes nothing in
its folder, a finished run is not rewritten, and a failed or signalled start leaves nothing
behind (gptlab.runtime.run_folder, gptlab.commands.train, gptlab.commands.startup). The train
command's start runs in-process here, as Hydra runs it (tests/commands/test_cli_contract.py runs
real command lines)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import pytest

from conftest import compose_run, tiny, train_run
from conftest import start_job as start
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


@pytest.fixture(scope="module")
def existing(tmp_path_factory, cache_dir) -> Path:
    """A finished run of 2 steps, with the record and log its first start wrote."""
    root = tmp_path_factory.mktemp("runs")
    run = root / "existing"
    assert start(root, run, cache_dir) is None
    assert (run / ".hydra" / "config.yaml").is_file() and (run / "train.log").is_file()
    return run


BAD_AGAINST_A_RUN = [
    ["model.emb_dim=100", "model.n_heads=12"],  # an impossible architecture
    ["model.n_layers=2"],  # another shape than the checkpoint's
    ["ckpt_path={root}/nowhere.ckpt"],  # a checkpoint that is not there
    ["optim=muon"],  # another optimizer than the run's
    ["data=tokens", "data.path={root}/no_shards"],  # data that is not there
    ["seed=abc"],
    ["ckpt_path=null"],  # a fresh start over the run
    ["trainer.precision=16-true", "trainer.max_steps=4"],  # a precision a CPU cannot train in
    ["trainer.accumulate_grad_batches=0", "trainer.max_steps=4"],
    ["model.context_length=100000"],  # longer than the corpus
    ["trainer.max_steps=-5"],
    ["+trainer.foo=1", "trainer.max_steps=4"],  # refused by the Trainer itself
]


@pytest.mark.parametrize("overrides", BAD_AGAINST_A_RUN, ids=lambda o: " ".join(o)[:30])
def test_a_bad_command_aimed_at_a_run_leaves_its_folder_as_it_was(
    existing, cache_dir, overrides, capsys
):
    before = snapshot(existing)
    root = existing.parent
    code = start(root, existing, cache_dir, *[o.format(root=root) for o in overrides])
    assert code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors and all(line.startswith("error: ") for line in errors), errors  # one per problem
    assert snapshot(existing) == before


@pytest.mark.parametrize("steps", ["trainer.max_steps=2", "trainer.max_steps=1"])
def test_a_finished_run_is_not_rewritten_by_a_step_count_it_has_reached(
    existing, cache_dir, steps, caplog
):
    before = snapshot(existing)
    with caplog.at_level("INFO"):
        assert start(existing.parent, existing, cache_dir, steps) is None  # exit 0
    assert "is already at step 2 of trainer.max_steps=" in caplog.text
    assert "nothing to train, nothing changed" in caplog.text
    assert snapshot(existing) == before


def test_max_steps_0_on_a_fresh_run_is_refused(tmp_path, cache_dir, capsys):
    assert start(tmp_path, tmp_path / "new", cache_dir, "trainer.max_steps=0") == 2
    assert "trainer.max_steps=0 trains nothing" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_bad_command_with_a_new_run_name_leaves_no_folder(tmp_path, cache_dir):
    assert start(tmp_path, tmp_path / "logs" / "new", cache_dir, "seed=abc") == 2
    assert not (tmp_path / "logs" / "new").exists()  # the empty folder Hydra made is gone


def test_a_resume_gets_a_record_of_its_own(tmp_path, cache_dir):
    run = tmp_path / "run"
    assert start(tmp_path, run, cache_dir) is None
    first = (run / ".hydra" / "config.yaml").read_text()
    assert start(tmp_path, run, cache_dir, "trainer.max_steps=3") is None
    assert (run / ".hydra" / "config.yaml").read_text() == first  # the first start's, as it was
    assert "max_steps: 3" in (run / ".hydra" / "attempt-2" / "config.yaml").read_text()
    assert (
        run / ".hydra" / "attempt-2" / "overrides.yaml"
    ).read_text() == "- trainer.max_steps=3\n"
    assert run_folder.record_subdir(run) == ".hydra/attempt-3"
    assert not (run / ".lock").exists()  # released when the start ended


def test_a_log_folder_that_cannot_be_written_is_one_line(tmp_path, cache_dir, capsys, monkeypatch):
    from gptlab.runtime.spec import build_spec

    (tmp_path / "a_file").write_text("")
    with pytest.raises(Exception, match="a_file is a file; choose another"):
        build_spec(compose_run(tmp_path, tmp_path / "a_file" / "run", cache_dir, *tiny()))
    # read-only (checked with os.access: the tests may run as root, whom permissions do not stop)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    with pytest.raises(Exception, match=f"{tmp_path} is not writable; choose a writable"):
        build_spec(compose_run(tmp_path, tmp_path / "run", cache_dir, *tiny()))


def test_a_failed_start_removes_only_what_it_created(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_PROCID", "3")  # not the job's first process: removes nothing
    run_folder.begin(tmp_path / "new")
    (tmp_path / "new" / ".hydra").mkdir(parents=True)
    assert not run_folder.discard_failed_start() and (tmp_path / "new").exists()
    monkeypatch.delenv("SLURM_PROCID")

    assert run_folder.discard_failed_start() and not (tmp_path / "new").exists()

    run = tmp_path / "old"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("first")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"step 10")
    attempt = run_folder.begin(run, records=True)
    attempt.record = run_folder.record_subdir(run)
    (run / attempt.record).mkdir()
    assert run_folder.discard_failed_start()
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == [
        ".hydra",
        ".hydra/config.yaml",
        "checkpoints",
        "checkpoints/last.ckpt",
    ]
    # a start that saved a checkpoint keeps everything
    run_folder.begin(tmp_path / "trained")
    (tmp_path / "trained" / "checkpoints").mkdir(parents=True)
    (tmp_path / "trained" / "checkpoints" / "last.ckpt").write_bytes(b"step 5")
    assert not run_folder.discard_failed_start() and (tmp_path / "trained").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_stop_signal_before_training_exits_zero_and_removes_the_new_folder(
    tmp_path, signum, capsys
):
    with pytest.raises(SystemExit) as stop, stop_signals_exit_cleanly():
        run_folder.begin(tmp_path / "run")
        (tmp_path / "run" / ".hydra").mkdir(parents=True)
        os.kill(os.getpid(), signum)
    assert stop.value.code == 0
    assert not (tmp_path / "run").exists()
    assert "nothing to save" in capsys.readouterr().err
    assert signal.getsignal(signum) is not None  # the handler before it is back


def test_a_stop_signal_names_the_checkpoint_that_is_really_there(tmp_path, capsys):
    # with callbacks.last_checkpoint=null the line said "last.ckpt is saved" when only the best
    # checkpoint was on disk
    def stop_after(write) -> str:
        with pytest.raises(SystemExit), stop_signals_exit_cleanly():
            run_folder.begin(tmp_path / "run")
            write(tmp_path / "run")
            os.kill(os.getpid(), signal.SIGTERM)
        return capsys.readouterr().err

    def metrics_and_best(run):
        (run / "csv").mkdir(parents=True)
        (run / "csv" / "metrics.csv").write_text("step\n1\n")
        (run / "checkpoints").mkdir()
        (run / "checkpoints" / "step000050.ckpt").write_bytes(b"best")

    err = stop_after(metrics_and_best)
    assert "last.ckpt" not in err.replace("no last.ckpt", "")
    assert "step000050.ckpt" in err and "ckpt_path=" in err
    err = stop_after(lambda run: (run / "checkpoints" / "last.ckpt").write_bytes(b"last"))
    assert "last.ckpt is saved; resume with ckpt_path=last" in err


def test_a_stop_signal_after_training_without_checkpoints_says_what_is_kept(tmp_path, capsys):
    with pytest.raises(SystemExit), stop_signals_exit_cleanly():
        run_folder.begin(tmp_path / "run")
        (tmp_path / "run" / "csv").mkdir(parents=True)
        (tmp_path / "run" / "csv" / "metrics.csv").write_text("step\n1\n")
        os.kill(os.getpid(), signal.SIGTERM)
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "last.ckpt is saved" not in err
    assert (tmp_path / "run" / "csv" / "metrics.csv").exists()


def test_in_process_runs_train_without_a_record(tmp_path, cache_dir):
    run = train_run(tmp_path, tmp_path / "run", cache_dir, *tiny("trainer.max_steps=2"))
    assert not (run / ".hydra").exists() and not (run / ".lock").exists()


def test_a_full_disk_while_saving_is_one_line_and_the_run_is_on_record_as_failed(
    tmp_path, cache_dir, capsys, monkeypatch
):
    """ENOSPC while the last checkpoint is written (in the background thread): one line naming the
    file, the bytes needed and free; result.json says failed; what training wrote stays."""
    import builtins

    from test_atomic import FullDisk

    from gptlab import atomic

    full = FullDisk(room=4096).open

    def open_on_a_full_disk(path, *args, **kwargs):
        opener = full if ".ckpt" in str(path) else builtins.open
        return opener(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", open_on_a_full_disk, raising=False)
    run = tmp_path / "run"
    assert start(tmp_path, run, cache_dir) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"error: cannot write {run / 'checkpoints'}")
    assert "no space left on its disk (it needs about " in lines[0] and " free)" in lines[0]
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "failed" and result["error"].startswith("DiskFullError: cannot")
    assert (run / "csv" / "metrics.csv").is_file() and not (run / ".lock").exists()
