"""eval.py and generate.py on a checkpoint made by training: in-process, plus each command line once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from conftest import CONF_DIR, run_cli, tiny, train_run
from gptlab.commands.evaluate import evaluate
from gptlab.commands.generate import run_generation
from gptlab.errors import GptlabError


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cache_dir) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    run = train_run(folder, folder / "run", cache_dir, *tiny("sample.max_new_tokens=0"))
    return run / "checkpoints" / "last.ckpt"


def config(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_greedy_samples_are_identical_and_long_prompts_are_cropped(checkpoint, capsys):
    prompt = "word " * 100  # more tokens than the tiny model's 32-token context
    samples = run_generation(
        config(
            "generate",
            f"ckpt_path={checkpoint}",
            f"prompt={prompt}",
            "temperature=0",
            "num_samples=2",
            "max_new_tokens=4",
        )
    )
    assert "keeping its last 32" in capsys.readouterr().err
    assert len(samples) == 2 and samples[0] == samples[1]


def test_generate_without_a_model_is_one_line():
    with pytest.raises(
        GptlabError, match="set exactly one of ckpt_path=<gptlab .ckpt> or init_from"
    ):
        run_generation(config("generate"))


def test_eval_reports_loss_and_perplexity_on_either_split(checkpoint, tmp_path, cache_dir):
    common = [f"ckpt_path={checkpoint}", "trainer.accelerator=cpu", "trainer.limit_val_batches=3"]
    common += [f"paths.cache_dir={cache_dir}", "+trainer.limit_test_batches=3"]
    common += [f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}"]
    val = evaluate(config("eval", *common))
    test = evaluate(config("eval", *common, "split=test"))
    assert 0 < val["val/loss"] < 11 and 0 < test["test/loss"] < 11
    assert val["val/ppl"] == pytest.approx(2.718281828 ** val["val/loss"], rel=1e-3)
    assert 0 < val["val/bpb"] < val["val/loss"]  # GPT-2 tokens hold > 1.44 bytes on average
    with pytest.raises(GptlabError, match="ckpt_path=missing.ckpt does not exist"):
        evaluate(config("eval", "ckpt_path=missing.ckpt"))


@pytest.mark.slow
def test_the_commands_as_a_user_runs_them(checkpoint, tmp_path):
    result = run_cli(
        "generate.py",
        f"ckpt_path={checkpoint}",
        "prompt=The class",
        "max_new_tokens=5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The class")
    assert not list(tmp_path.iterdir())  # generation writes no run folder
    # eval.py writes its metrics in its run folder; a missing checkpoint leaves no folder
    evaluated = run_cli("eval.py", f"ckpt_path={checkpoint}", *EVAL, "run_name=one", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((tmp_path / "logs" / "eval" / "runs" / "one" / "metrics.json").read_text())
    assert f"val/loss={metrics['val/loss']:.4f}" in evaluated.stdout
    assert metrics["ckpt_path"] == str(checkpoint)
    missing = run_cli(
        "eval.py", f"ckpt_path={tmp_path}/nowhere.ckpt", *EVAL, "run_name=two", cwd=tmp_path
    )
    assert (
        missing.returncode == 2 and "nowhere.ckpt does not exist; give the path" in missing.stderr
    )
    assert "resume" not in missing.stderr  # eval does not resume anything
    assert sorted(p.name for p in (tmp_path / "logs" / "eval" / "runs").iterdir()) == ["one"]


EVAL = ["data=pydoc", "trainer.accelerator=cpu", "trainer.limit_val_batches=2"]


def test_streaming_prints_characters_split_across_tokens_whole(checkpoint, capsys, monkeypatch):
    import torch

    import gptlab.commands.generate as command
    from gptlab.data.tokenizer import encode

    text = " café — 日本語のテキスト 🙂"  # CJK characters and the emoji span several tokens

    def fixed_tokens(model, idx, max_new_tokens, on_token=None, **kwargs):
        tokens = torch.tensor([encode(text)])
        for i in range(tokens.size(1)):
            on_token(tokens[:, i : i + 1])
        return torch.cat([idx, tokens], dim=1)

    monkeypatch.setattr(command, "generate", fixed_tokens)
    samples = run_generation(config("generate", f"ckpt_path={checkpoint}", "prompt=Hello"))
    assert samples == ["Hello" + text]
    assert capsys.readouterr().out == "Hello" + text + "\n"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("temperature=-1", "temperature=-1 must be >= 0"),
        ("top_p=0", "top_p=0 must be in (0, 1]"),
        ("top_p=1.5", "top_p=1.5 must be in (0, 1]"),
        ("top_k=0", "top_k=0 must be >= 1 or null"),
        ("max_new_tokens=-1", "max_new_tokens=-1 must be >= 0"),  # and blames nothing else
        ("num_samples=0", "num_samples=0 must be >= 1"),
        ("temperature=abc", "temperature='abc' must be a number"),
        ("top_k=2.5", "top_k=2.5 must be an integer or null"),
    ],
)
def test_impossible_sampling_settings_get_one_line(checkpoint, setting, message):
    with pytest.raises(GptlabError) as refused:
        run_generation(config("generate", f"ckpt_path={checkpoint}", setting))
    assert str(refused.value) == message or str(refused.value).startswith(message + " ")


def test_an_empty_prompt_starts_from_end_of_text_without_printing_it(checkpoint, capsys):
    samples = run_generation(
        config("generate", f"ckpt_path={checkpoint}", "prompt=", "max_new_tokens=3")
    )
    out = capsys.readouterr().out
    assert "<|endoftext|>" not in out and "<|endoftext|>" not in samples[0]
