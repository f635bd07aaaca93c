"""The speedrun track (gptlab.benchmarks.speedrun): equal tokens per step or a refusal, fixed
budgets over seeds with a verdict, the results table."""

from __future__ import annotations

import json

import pytest

from conftest import tiny
from gptlab.benchmarks import speedrun
from gptlab.errors import ConfigError


def test_runs_that_train_other_tokens_per_step_or_other_data_are_refused_or_noted():
    base = ["model=gpt2_124m", "data=pycode", "data.batch_size=32"]
    same = {"baseline": base, "preset": ["experiment=speedrun_124m"]}
    assert speedrun.check_comparable(same, allow_unequal=False) == []
    unequal = {
        "baseline": ["model=gpt2_124m", "data=pycode"],
        "preset": ["experiment=speedrun_124m"],
    }
    with pytest.raises(
        ConfigError, match="preset trains 32,768 tokens per step, the baseline 8,192"
    ):
        speedrun.check_comparable(unequal, allow_unequal=False)
    notes = speedrun.check_comparable(unequal, allow_unequal=True)
    assert notes == ["preset trains 32,768 tokens per step, the baseline 8,192"]
    with pytest.raises(
        ConfigError, match="preset trains on gptlab.data.PydocDataModule, the baseline on .*pycode"
    ):
        speedrun.check_comparable({"baseline": base, "preset": [*base, "data=pydoc"]}, True)
    growing = [*base, "data.batch_size_schedule=[16,32,48]"]  # the same tokens over the run
    assert speedrun.check_comparable({"baseline": base, "ramp": growing}, False) == [
        "ramp grows its batch (data.batch_size_schedule=[16, 32, 48], equal shares of its "
        "steps): 32,768 tokens per step on average, as the baseline"
    ]
    with pytest.raises(
        ConfigError, match="ramp trains 40,960 tokens per step, the baseline 32,768"
    ):
        speedrun.check_comparable(
            {"baseline": base, "ramp": [*base, "data.batch_size_schedule=[32,48]"]}, False
        )


def test_budgets_and_seeds_are_checked(capsys):
    assert speedrun.parse_budget("1200:400", race=False) == (1200, 400)
    assert speedrun.parse_budget("300", race=True) == (300, 300)
    with pytest.raises(ConfigError, match="--budget '1200': give B:C"):
        speedrun.parse_budget("1200", race=False)
    assert speedrun.main(["--seeds", "0"]) == 2
    assert "--seeds 0: give 1 or more" in capsys.readouterr().err


@pytest.mark.slow
def test_a_tiny_track_judges_a_candidate_over_seeds(tmp_path, cache_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ";".join(tiny(f"paths.cache_dir={cache_dir}", "sample.max_new_tokens=0"))
    candidate = f"muon={base};optim=muon"
    table = tmp_path / "track.md"
    code = speedrun.main(["--budget", "4:3", "--seeds", "2", "--baseline", base,
                          "--candidate", candidate, "--out", str(tmp_path / "runs"),
                          "--table", str(table)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    lines = [json.loads(line) for line in printed.splitlines()]  # JSON only
    runs = [line for line in lines if "seed" in line]
    assert [(r["name"], r["steps"]) for r in runs] == [("baseline", 4)] * 2 + [("muon", 3)] * 2
    assert len({r["val_loss"] for r in runs[:2]}) == 2  # two seeds, two losses
    (verdict,) = [line for line in lines if "budget" in line]
    target = sum(r["val_loss"] for r in runs[:2]) / 2
    assert verdict["target"] == pytest.approx(target, abs=1e-4)
    assert verdict["seeds"] == 2 and 0 <= verdict["p_value"] <= 1
    assert verdict["passed"] == (verdict["p_value"] < 0.01)
    text = table.read_text()
    assert "| budget | run | seeds |" in text and "| 3 | muon | 2 |" in text
    assert "`python -m gptlab.benchmarks.speedrun --budget 4:3" in text

    # a long baseline trained once: later calls judge candidates against its printed runs
    earlier = tmp_path / "track.jsonl"
    earlier.write_text(printed)
    again = ["--seeds", "1", "--baseline", base, "--baseline-from", str(earlier),
             "--candidate", candidate]  # fmt: skip
    assert speedrun.main(["--budget", "8:3", *again]) == 2  # no 8-step baseline in it
    assert "no finished baseline run of 8 steps" in capsys.readouterr().err
    more = ["--first-seed", "2000", "--out", str(tmp_path / "again")]
    assert speedrun.main(["--budget", "4:2", *again, *more]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # no baseline trained; the candidate's seed the one asked for
    assert [(line["name"], line["seed"]) for line in lines if "seed" in line] == [("muon", 2000)]
    (verdict,) = [line for line in lines if "budget" in line]
    assert verdict["target"] == pytest.approx(target, abs=1e-4) and verdict["steps"] == 2
    assert any("the baseline's runs are read from" in note for note in verdict["notes"])


def test_each_run_line_is_flushed_before_the_next_run_starts(tmp_path, monkeypatch):
    # stdout piped to a file is block-buffered: a time limit that kills a later run must not
    # take the finished runs' lines with it
    class Stdout:
        def __init__(self) -> None:
            self.pending, self.flushed = "", ""

        def write(self, text: str) -> int:
            self.pending += text
            return len(text)

        def flush(self) -> None:
            self.flushed, self.pending = self.flushed + self.pending, ""

    stdout = Stdout()
    lines_when_run_starts = []

    def fake_run(overrides, folder):
        lines_when_run_starts.append(stdout.flushed.count("\n"))
        loss = 2.0 + len(lines_when_run_starts) / 100
        return {"val_loss": loss, "training_s": 1.0, "tokens_per_s": 1, "tokens": 1}

    monkeypatch.setattr(speedrun, "run", fake_run)
    monkeypatch.setattr(speedrun, "check_comparable", lambda runs, allow: [])
    monkeypatch.setattr("sys.stdout", stdout)
    assert speedrun.main(["--budget", "4:2", "--seeds", "2", "--out", str(tmp_path)]) == 0
    # baseline seeds 1 and 2, then the candidate's: each starts after every earlier line is out
    assert lines_when_run_starts == [0, 1, 2, 3]
