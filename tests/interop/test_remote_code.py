"""A model no transformers class computes exports with gptlab's modeling code: transformers loads
it with trust_remote_code=True where gptlab is not installed and computes gptlab's logits; the
harness and gptlab's own generate read the folder too (gptlab.interop.remote_code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from gptlab.interop.hf import load_hf, save_hf  # noqa: E402
from gptlab.model import GPT, GPTConfig  # noqa: E402
from gptlab.model.generate import generate  # noqa: E402

# every switch without a transformers twin, on a Llama-style base (rotary tables included)
EVERY_SWITCH = dict(vocab_size=50257, context_length=32, emb_dim=32, n_heads=4, n_kv_heads=2,
                    n_layers=4, drop_rate=0.0, pos_emb="rope", norm="rmsnorm", bias=False,
                    mlp="relu2", qk_norm=True, logit_softcap=15.0, value_embeds=2,
                    unet_skips=True, vocab_multiple=64, attn_window=8)  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, GPT]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(**EVERY_SWITCH)).eval()
    with torch.no_grad():  # mixes and skip weights away from their starting values
        for name, param in model.named_parameters():
            if "value_mix" in name or "skip_weights" in name:
                param.uniform_(0.2, 1.5)
    folder = save_hf(model, tmp_path_factory.mktemp("remote") / "export")
    return folder, model


# run where gptlab cannot be imported: only the folder's files
OUTSIDE = """
import sys
sys.modules["gptlab"] = None
import torch
from transformers import AutoModelForCausalLM
folder, reference = sys.argv[1], torch.load(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
with torch.no_grad():
    logits = model(reference["idx"]).logits
    greedy = model.generate(reference["idx"][:1, :5], max_new_tokens=6, do_sample=False)
print(float((logits - reference["logits"]).abs().max()), greedy[0, 5:].tolist())
"""


@pytest.mark.slow
def test_transformers_computes_gptlabs_logits_without_gptlab(exported, tmp_path):
    folder, model = exported
    idx = torch.randint(0, 50257, (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.save({"idx": idx, "logits": model(idx)}, tmp_path / "reference.pt")
        ours = generate(model, idx[:1, :5], 6, temperature=0.0)[0, 5:].tolist()
    result = subprocess.run(
        [sys.executable, "-c", OUTSIDE, str(folder), str(tmp_path / "reference.pt")],
        cwd=tmp_path, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    diff, greedy = result.stdout.split(" ", 1)
    assert float(diff) < 1e-5
    assert json.loads(greedy) == ours


def test_gptlab_reads_the_folder_back(exported):
    folder, model = exported
    cfg, state = load_hf(folder)
    assert cfg == model.cfg
    again = GPT(cfg).eval()
    again.load_state_dict(state)
    idx = torch.randint(0, 50257, (1, 16))
    with torch.no_grad():
        assert torch.equal(again(idx), model(idx))
    assert again.lm_head.weight is again.tok_emb.weight  # tied again, stored once


def test_generate_samples_from_the_folder(exported, capsys):
    from hydra import compose, initialize_config_dir

    from conftest import CONF_DIR
    from gptlab.commands.generate import run_generation
    from gptlab.data.tokenizer import decode, encode

    folder, model = exported
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("generate", [f"init_from={folder}", "prompt=def", "max_new_tokens=5",
                                   "temperature=0", "device=cpu"])  # fmt: skip
    (sample,) = run_generation(cfg)
    with torch.no_grad():
        ids = generate(model, torch.tensor([encode("def")]), 5, temperature=0.0)
    assert sample == decode(ids[0].tolist())


def test_the_harness_scores_the_folder_as_gptlab_does(exported):
    lm_eval_models = pytest.importorskip("lm_eval.models.huggingface")
    from lm_eval.api.instance import Instance

    from gptlab.data.tokenizer import encode

    folder, model = exported
    lm = lm_eval_models.HFLM(pretrained=str(folder), trust_remote_code=True, device="cpu",
                             batch_size=1)  # fmt: skip
    context, continuation = "def add(a, b):", " return a + b"
    ((got, _),) = lm.loglikelihood(
        [Instance("loglikelihood", {}, (context, continuation), 0)], disable_tqdm=True
    )
    whole, start = encode(context + continuation), len(encode(context))
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([whole[:-1]]))[0].float(), dim=-1)
    expected = sum(logprobs[i - 1, whole[i]].item() for i in range(start, len(whole)))
    assert got == pytest.approx(expected, abs=1e-4)
