"""What a person sees of a run, as a SLURM log or a pipe gets it (not a terminal): progress lines
while it trains, a summary with result.json's numbers at the end, and little else."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run_cli, tiny

pytestmark = pytest.mark.slow

# a default run's setup (W&B included: offline here), shortened
RUN = [
    a for a in tiny("trainer.max_steps=30", "trainer.val_check_interval=15") if a != "logger=csv"
]
RUN += [
    "trainer.log_every_n_steps=10",
    "trainer.enable_progress_bar=true",
    "sample.max_new_tokens=8",
]


def test_a_piped_run_shows_its_progress_and_ends_with_the_summary_of_its_result(tmp_path):
    result = run_cli("train.py", *RUN, "run_name=piped", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    lines = out.splitlines()
    progress = [line for line in lines if re.match(r"step \d+/30 \| ", line)]
    assert [line.split(" | ")[0] for line in progress] == [
        "step 1/30",
        "step 10/30",
        "step 20/30",
        "step 30/30",
    ]
    validations = [line for line in lines if line.startswith("validation at step")]
    assert [line.split(":")[0] for line in validations] == [
        "validation at step 15",
        "validation at step 30",
    ]
    # the summary is the end of the output, with the numbers of result.json
    run_dir = tmp_path / "logs" / "train" / "runs" / "piped"
    recorded = json.loads((run_dir / "result.json").read_text())
    summary = out[out.index("run finished:") :].splitlines()
    assert summary[0].startswith("run finished: step 30/30, 3,840 tokens")
    assert f"val/loss {recorded['val/loss']:.4f}" in summary[1]
    assert recorded["steps"] == 30 and recorded["tokens_seen"] == 3840
    assert f"best checkpoint: checkpoints/step{recorded['best_checkpoint'][-11:-5]}" in out
    assert summary[-2] == f"  run folder: {run_dir}"
    assert summary[-1].startswith("  W&B is offline; upload the run with: wandb sync")
    # and little else: these lines, the sample aside, are all a default run prints
    sample = out[out.index("Sample before training:") : out.index("run finished:")]
    rest = [line for line in out.replace(sample, "").splitlines() if line.strip()]
    assert len(rest) == 1 + 1 + 4 + 2 + 6, (
        rest
    )  # W&B offline, model, progress, validations, summary
    everything = out + result.stderr
    for noise in (
        "GPU available",
        "TPU available",
        "Trainer.fit",
        "wandb:",
        "💡",
        "Epoch",
        "config\n",
    ):
        assert noise not in everything, noise
    # train.log holds the same lines, with their time
    log = (run_dir / "train.log").read_text()
    assert "step 20/30" in log and "run finished: step 30/30" in log
