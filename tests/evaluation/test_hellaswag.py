"""HellaSwag as llm.c scores it: the library, the training callback and eval.py give the score a
plain-torch reference computes, and a missing data file stops a run at start with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from conftest import CONF_DIR, HELLASWAG_EXAMPLES, read_metrics, write_hellaswag
from gptlab.checkpoints.weights import model_from_checkpoint
from gptlab.commands.cli import error_message
from gptlab.commands.evaluate import evaluate
from gptlab.commands.train import train
from gptlab.data.tokenizer import encode
from gptlab.evaluation import hellaswag
from gptlab.model import GPT, GPTConfig


def reference_scores(model: GPT) -> tuple[float, float, list[list[float]]]:
    """(acc, acc_norm, mean loss of each ending) one ending at a time, in plain torch."""
    correct = correct_norm = 0
    means = []
    with torch.no_grad():
        for example in HELLASWAG_EXAMPLES:
            context = encode(example["ctx"])
            sums, example_means = [], []
            for ending in example["endings"]:
                tokens = torch.tensor(context + encode(" " + ending))
                logits = model(tokens[None, :-1])[0]
                losses = F.cross_entropy(logits.float(), tokens[1:], reduction="none")
                ending_losses = losses[len(context) - 1 :]  # predictions of the ending's tokens
                sums.append(ending_losses.sum().item())
                example_means.append(ending_losses.mean().item())
            correct += int(min(range(4), key=sums.__getitem__) == example["label"])
            correct_norm += int(min(range(4), key=example_means.__getitem__) == example["label"])
            means.append(example_means)
    n = len(HELLASWAG_EXAMPLES)
    return correct / n, correct_norm / n, means


MODERN = dict(pos_emb="rope", norm="rmsnorm", mlp="swiglu", qk_norm=True, n_kv_heads=1)


def tiny_gpt(context_length: int = 64, **switches) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(context_length=context_length, emb_dim=32, n_heads=2, n_layers=2, **switches)
    return GPT(config).eval()


@pytest.mark.parametrize("switches", [{}, MODERN], ids=["gpt2", "llama-style"])
def test_batched_scoring_equals_one_ending_at_a_time(tmp_path, switches):
    model = tiny_gpt(**switches)
    examples = hellaswag.read_jsonl(write_hellaswag(tmp_path / "hellaswag_val.jsonl"))
    acc, acc_norm, means = reference_scores(model)
    counts, seconds = hellaswag.evaluate(model, examples, batch_size=2)
    assert (counts.acc, counts.acc_norm, counts.total) == (acc, acc_norm, 5)
    assert seconds > 0
    rendered = [hellaswag.render(e, encode, 65) for e in examples]
    batched = hellaswag.ending_losses(model.forward, rendered, torch.device("cpu"))
    for (_, mean), expected in zip(batched, means, strict=True):
        assert mean == pytest.approx(expected, abs=1e-5)
    # two ranks' shares add up to the whole
    halves = [hellaswag.evaluate(model, examples, rank=r, world_size=2)[0] for r in (0, 1)]
    assert sum(h.total for h in halves) == 5
    assert sum(h.correct_norm for h in halves) == counts.correct_norm


def test_long_examples_keep_their_last_tokens():
    example = hellaswag.Example("word " * 50, ("an ending here", "x"), 0)
    rendered = hellaswag.render(example, encode, max_length=16)
    assert all(len(row) <= 16 for row in rendered.rows)
    ending = encode(" an ending here")
    assert rendered.rows[0][-len(ending) :] == tuple(ending)
    assert rendered.ending_starts[0] == 16 - len(ending)


@pytest.mark.slow
def test_the_callback_and_eval_py_score_the_trained_model(tmp_path, compose_train, cache_dir):
    data = write_hellaswag(tmp_path / "hellaswag_val.jsonl")
    metrics = train(
        compose_train(
            "model.context_length=64",
            "callbacks.hellaswag.every_n_steps=5",
            f"callbacks.hellaswag.path={data}",
            "callbacks.hellaswag.batch_size=3",
        )
    )
    _, acc_norm, _ = reference_scores(
        model_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    )
    assert metrics["eval/hellaswag_acc_norm"] == pytest.approx(acc_norm)
    logged = [row for row in read_metrics(tmp_path / "run") if row.get("eval/hellaswag_acc_norm")]
    assert [int(row["step"]) for row in logged] == [5, 10, 15, 20]  # after those steps
    assert float(logged[-1]["eval/hellaswag_acc_norm"]) == pytest.approx(acc_norm)
    assert all(float(row["eval/hellaswag_s"]) > 0 for row in logged)

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    scores = evaluate(hellaswag_eval_config(f"ckpt_path={last}", data))
    assert scores["hellaswag/acc_norm"] == pytest.approx(acc_norm)
    assert scores["hellaswag/examples"] == 5
    # the same weights as a Hugging Face folder: eval.py init_from=<folder>
    from gptlab.interop.hf import save_hf

    folder = save_hf(model_from_checkpoint(last), tmp_path / "hf")
    scores = evaluate(hellaswag_eval_config(f"init_from={folder}", data))
    assert scores["hellaswag/acc_norm"] == pytest.approx(acc_norm)


def hellaswag_eval_config(model: str, data: Path):
    """``eval.py task=hellaswag <model> hellaswag.path=<data>`` on the CPU."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        overrides = ["task=hellaswag", model, f"hellaswag.path={data}", "trainer.accelerator=cpu"]
        return compose("eval", overrides=overrides)


def test_without_the_data_offline_a_run_stops_at_start_with_one_line(
    tmp_path, compose_train, monkeypatch
):
    datasets = pytest.importorskip("datasets")

    def no_network(*args, **kwargs):  # what load_dataset raises on a compute node
        raise ConnectionError(
            "Couldn't reach 'Rowan/hellaswag' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(datasets, "load_dataset", no_network)
    for path, message in (
        ("null", "could not be downloaded"),
        (str(tmp_path / "nowhere.jsonl"), "nowhere.jsonl does not exist; download"),
    ):
        with pytest.raises(Exception) as stopped:
            train(
                compose_train(
                    "callbacks.hellaswag.every_n_steps=5", f"callbacks.hellaswag.path={path}"
                )
            )
        line = error_message(stopped.value)
        assert message in line and "hellaswag_val.jsonl" in line and "\n" not in line
        assert not (tmp_path / "run" / "checkpoints").exists()  # before the first step


def test_a_file_in_another_format_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "?", "choices": ["a"]}) + "\n")
    with pytest.raises(hellaswag.HellaSwagError, match="bad.jsonl:1: not a HellaSwag example"):
        hellaswag.read_jsonl(bad)
