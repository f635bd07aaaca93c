"""W&B offline runs as train.py makes them, throughput peaks, and the loss plot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from wandb_offline import summarize

from conftest import ROOT, TINY
from gptlab.commands.plot import plot, read_curves
from gptlab.commands.train import train
from gptlab.training.peaks import peak_flops

WANDB = [a for a in TINY if not a.startswith("trainer.max_steps")] + [
    "trainer.max_steps=10",
    "logger=wandb",
]


def run(cwd: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["HOME"] = str(cwd)  # no ~/.netrc: not logged in, so offline by itself
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if ok:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def offline_runs(folder: Path) -> list[Path]:
    return sorted(folder.rglob("offline-run-*"))


@pytest.mark.slow
def test_offline_run_holds_metrics_config_samples_and_resumes_as_the_same_run(tmp_path):
    samples = ["callbacks.text_samples.every_n_steps=5", "callbacks.text_samples.max_new_tokens=4"]
    result = run(tmp_path, *WANDB, *samples, "run_name=one")
    assert "wandb sync" in result.stdout + result.stderr  # says how to upload it
    run_dir = tmp_path / "logs" / "train" / "runs" / "one"
    (offline,) = offline_runs(run_dir)
    wb = summarize(offline)
    assert wb["console"] == 0  # metrics, not screen frames: W&B captures no console output
    assert wb["id"] == (run_dir / "wandb_id.txt").read_text().strip()
    assert wb["exit_code"] == 0
    assert wb["config"]["model"]["emb_dim"] == 32
    assert wb["config"]["n_parameters"] > 0 and len(wb["config"]["git_commit"]) >= 7
    logged = {key for row in wb["history"] for key in row}
    assert {"train/loss", "val/loss", "val/ppl", "lr", "train/tokens", "train/grad_norm"} <= logged
    assert any(row.get("train/tokens") == 10 * 4 * 32 for row in wb["history"])
    # text samples: a W&B table that grows (2 prompts at step 5, again at 10; the end of
    # training at step 10 adds none, that step is sampled)
    rows = [row for row in wb["history"] if "samples/nrows" in row]
    assert [(row["_step"], row["samples/nrows"]) for row in rows] == [(5, 2), (10, 4)]
    tables = [
        json.loads(f.read_text()) for f in offline.glob("files/media/table/samples_*.table.json")
    ]
    table = max(tables, key=lambda t: len(t["data"]))
    assert table["columns"] == ["step", "prompt", "text"]
    assert [r[0] for r in table["data"]] == [5, 5, 10, 10]

    resumed = [a for a in WANDB if "max_steps" not in a]
    run(tmp_path, *resumed, "trainer.max_steps=14", "run_name=one", "ckpt_path=last")
    first, second = (summarize(p) for p in offline_runs(run_dir))
    assert first["id"] == second["id"]
    # one history row per logged step, W&B's step being the optimizer step: the second part
    # goes on where the first stopped (W&B alone would restart at 0), so syncing both gives one
    assert [row["_step"] for row in first["history"]] == list(range(1, 11))
    assert [row["_step"] for row in second["history"]] == list(range(11, 15))
    assert all("train/loss" in row for row in second["history"])


@pytest.mark.slow
def test_each_job_of_a_multirun_is_a_run_of_its_own_and_a_failed_one_says_so(tmp_path):
    # vocabulary 100 cannot hold the corpus's token ids: that job fails at its first batch; the
    # two jobs at once, each in a process of joblib's launcher (hydra/launcher=local_parallel)
    run(tmp_path, "-m", *WANDB, "hydra/launcher=local_parallel", "model.vocab_size=50257,100")
    runs = {r["name"].split()[-1]: r for r in map(summarize, offline_runs(tmp_path / "logs"))}
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(runs) == ["model.vocab_size=100", "model.vocab_size=50257"]
    assert {r["group"] for r in runs.values()} == {sweep.name}
    assert len({r["id"] for r in runs.values()}) == 2
    assert runs["model.vocab_size=50257"]["exit_code"] == 0
    assert runs["model.vocab_size=100"]["exit_code"] == 1  # shown as failed in W&B


def test_credentials_without_a_reachable_server_mean_offline_within_seconds(monkeypatch):
    """A compute node with a W&B key and no route out: offline after the connection timeout, not
    online with minutes of W&B retries and a traceback."""
    import socket
    import time

    from gptlab.runtime import tracking

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")

    def unreachable(address, timeout):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    assert tracking.choose_mode(5.0) == (
        "offline",
        "https://wandb.example.org cannot be reached within 5 s",
    )

    def hangs(address, timeout):  # packets dropped: no answer at all
        time.sleep(30)
        raise TimeoutError

    monkeypatch.setattr(socket, "create_connection", hangs)
    started = time.monotonic()
    assert tracking.choose_mode(0.3)[0] == "offline"
    assert time.monotonic() - started < 5

    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(socket, "create_connection", lambda address, timeout: Connection())
    assert tracking.choose_mode(5.0) == ("online", None)
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the user's choice wins
    assert tracking.choose_mode(5.0) == ("disabled", None)


def test_the_sync_hint_quotes_folders_with_spaces():
    from gptlab.runtime.tracking import sync_command

    assert sync_command(Path("/runs/my run")) == "wandb sync '/runs/my run/wandb'/offline-run-*"


def test_peak_flops_per_card_and_unknown_cards():
    assert peak_flops("NVIDIA H200", "bf16-mixed") == 989e12
    assert peak_flops("NVIDIA H100 80GB HBM3", "bf16-mixed") == 989e12
    assert peak_flops("NVIDIA H100 PCIe", "bf16-mixed") == 756e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "bf16-mixed") == 312e12
    assert peak_flops("NVIDIA A100-SXM4-80GB", "32-true") == 156e12
    assert peak_flops("Some Future GPU", "bf16-mixed") is None


def test_plot_draws_train_and_val_loss(compose_train, tmp_path):
    train(compose_train())
    run_dir = tmp_path / "run"
    curves = read_curves(run_dir, "step")
    assert len(curves["train/loss"][1]) == 20 and len(curves["val/loss"][1]) == 2
    out = plot([run_dir, run_dir], tmp_path / "loss.png", x="tokens")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    # validation rows are placed at the tokens of their step
    xs, _ = read_curves(run_dir, "tokens")["val/loss"]
    assert xs == [10 * 4 * 32, 20 * 4 * 32]
    smooth = plot([run_dir], tmp_path / "smooth.png", log_y=True, smooth=0.6, title="t")
    assert smooth.stat().st_size > 10_000


def test_a_single_training_point_is_drawn(tmp_path):
    from gptlab.commands.plot import smoothed

    run = tmp_path / "one"
    (run / "csv").mkdir(parents=True)
    (run / "csv" / "metrics.csv").write_text(
        "step,train/loss,train/tokens,val/loss\n1,9.5,128,\n1,,,9.7\n"
    )
    curves = read_curves(run, "tokens")
    assert curves["train/loss"] == ([128.0], [9.5]) and curves["val/loss"] == ([128.0], [9.7])
    assert plot([run], tmp_path / "p.png").stat().st_size > 5_000
    assert smoothed([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # no pull to zero


@pytest.mark.parametrize(
    "logger", ["tensorboard", pytest.param("many", marks=pytest.mark.slow), "none", "csv"]
)
def test_every_logger_config_runs(compose_train, tmp_path, logger):
    train(
        compose_train(
            f"logger={logger}",
            "trainer.max_steps=2",
            "+logger.wandb.mode=offline" if logger == "many" else "trainer.max_steps=2",
        )
    )
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
