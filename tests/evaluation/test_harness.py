"""The lm-evaluation-harness runs a local task on a tiny gptlab checkpoint and gets the
log-likelihoods gptlab computes itself (offline: a task YAML over a local JSON file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny, train_run
from gptlab.checkpoints.weights import model_from_checkpoint
from gptlab.data.tokenizer import EOT_ID, decode, encode
from gptlab.model.generate import generate

lm_eval = pytest.importorskip("lm_eval")

DOCS = [
    {"question": "The capital of France is", "choices": ["Paris.", "a banana."], "answer": 0},
    {"question": "def add(a, b): return", "choices": ["a + b", "the the"], "answer": 0},
    {"question": "Water boils at", "choices": ["blue.", "100 degrees Celsius."], "answer": 1},
]
TASK = """task: gptlab_local_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, cache_dir) -> Path:
    folder = tmp_path_factory.mktemp("harness")
    run = train_run(folder, folder / "run", cache_dir, *tiny("sample.max_new_tokens=0"))
    return run / "checkpoints" / "last.ckpt"


def logprob(model, context: str, continuation: str) -> float:
    """log p(continuation | context), tokenized as the harness does (the whole, then split)."""
    context_ids, whole = encode(context), encode(context + continuation)
    tokens = torch.tensor(whole)
    with torch.no_grad():
        logits = model(tokens[None, :-1])[0].float()
    logprobs = F.log_softmax(logits, dim=-1)
    return sum(logprobs[i - 1, whole[i]].item() for i in range(len(context_ids), len(whole)))


@pytest.mark.slow
def test_a_local_task_through_the_harness_scores_what_gptlab_computes(
    checkpoint, tmp_path, monkeypatch
):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from gptlab.evaluation.harness import GptlabLM

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "local.yaml").write_text(TASK.format(data=data))

    lm = GptlabLM(ckpt_path=str(checkpoint), batch_size=2)
    results = simple_evaluate(
        model=lm,
        tasks=["gptlab_local_choice"],
        task_manager=TaskManager(include_path=str(tasks)),
        log_samples=True,
    )
    model = model_from_checkpoint(checkpoint)
    samples = results["samples"]["gptlab_local_choice"]
    assert len(samples) == len(DOCS)
    correct = 0
    for sample in samples:
        doc = sample["doc"]
        got = [resp[0][0] for resp in sample["resps"]]
        expected = [logprob(model, doc["question"], " " + c) for c in doc["choices"]]
        assert got == pytest.approx(expected, abs=1e-4)
        correct += int(max(range(len(expected)), key=expected.__getitem__) == doc["answer"])
    acc = results["results"]["gptlab_local_choice"]["acc,none"]
    assert acc == pytest.approx(correct / len(DOCS))


@pytest.mark.slow
def test_the_command_line_finds_the_gptlab_model_type(checkpoint, tmp_path, monkeypatch, capsys):
    """``python -m gptlab lm_eval --model gptlab ...``: the harness's own command line, with the
    harness's --batch_size and --device (cuda by default: the CPU when there is none)."""
    import sys

    from gptlab.commands.lm_eval import main

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "local.yaml").write_text(TASK.format(data=data))
    argv = ["lm_eval", "--model", "gptlab", "--model_args", f"ckpt_path={checkpoint}",
            "--batch_size", "4", "--tasks", "gptlab_local_choice",
            "--include_path", str(tmp_path / "tasks")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    main()
    assert "|gptlab_local_choice|" in capsys.readouterr().out.replace(" ", "")


def test_rolling_loglikelihood_and_generation(checkpoint):
    from lm_eval.api.instance import Instance

    from gptlab.evaluation.harness import GptlabLM

    lm = GptlabLM(ckpt_path=str(checkpoint))
    model = model_from_checkpoint(checkpoint)
    text = "print('hello world')"  # shorter than the model's context: one window after EOT
    (rolling,) = lm.loglikelihood_rolling(
        [Instance("loglikelihood_rolling", {}, (text,), 0)], disable_tqdm=True
    )
    assert rolling == pytest.approx(logprob(model, decode([EOT_ID]), text), abs=1e-4)

    request = Instance(
        "generate_until", {}, ("def f(x):", {"until": ["\n\n"], "max_gen_toks": 8}), 0
    )
    (generated,) = lm.generate_until([request], disable_tqdm=True)
    prompt = torch.tensor([encode("def f(x):")])
    greedy = decode(
        generate(model, prompt, 8, temperature=0.0, stop_token=EOT_ID)[0, prompt.size(1) :].tolist()
    )
    assert generated == greedy.replace(decode([EOT_ID]), "").split("\n\n")[0]


def test_without_the_harness_installed_the_command_is_one_line(monkeypatch, capsys):
    import sys

    from gptlab.commands.lm_eval import main

    monkeypatch.delitem(sys.modules, "gptlab.evaluation.harness", raising=False)
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "lm_eval.api.model", None)
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .startswith("error: the lm-evaluation-harness is not installed")
    )
