"""A command line a person can discover: ``--help`` everywhere, at once, exit 0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from gptlab.commands.help import COMMANDS, command_help, command_list


def test_gptlab_help_lists_every_command_with_what_it_does():
    listed = command_list()
    for name, (_, _, what) in COMMANDS.items():
        assert f"  {name}" in listed and what in listed


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_a_help(command):
    text = command_help(command)
    assert "usage:" in text and len(text.splitlines()) > 3


def test_the_train_help_lists_groups_options_and_keys_with_their_comments():
    text = command_help("train")
    assert "model           gpt2_124m" in text and "gpt_tiny*" in text  # * the default
    assert "_shards" not in text  # a private base config is no option
    assert "init_from" in text and "a gptlab .ckpt, a Hugging Face folder" in text
    assert "module.nonfinite" in text


def test_help_answers_without_importing_torch():
    """The help needs no torch (whose import alone takes seconds): checked by what gets imported."""
    for args in (
        ["-m", "gptlab", "--help"],
        ["-m", "gptlab", "bench", "--help"],
        [str(ROOT / "train.py"), "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr[-2000:]
        imported = {
            line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line
        }
        assert "torch" not in imported and "usage:" in result.stdout, args


def test_an_unknown_command_gets_the_closest_one(capsys, monkeypatch):
    from gptlab.__main__ import main

    monkeypatch.setattr(sys, "argv", ["gptlab", "trian"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert "did you mean 'train'?" in capsys.readouterr().err


def test_argparse_commands_call_themselves_gptlab():
    for name in ("plot", "export", "sweeps", "bench", "lm_eval"):
        assert command_help(name).startswith(f"usage: gptlab {name}")
