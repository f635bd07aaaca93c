"""The GPU cost of one HellaSwag pass (``callbacks.hellaswag``) for a model preset.

    python -m gptlab.benchmarks.evaluation [--model gpt2_124m] [--batch-sizes 16,32,64]
        [--path hellaswag_val.jsonl]

Without ``--path`` it scores 10,042 synthetic examples in HellaSwag's shape (a context and four
endings of English words from the embedded Python docs, lengths drawn from the ranges of the real
set): the cost depends on the token counts, not on the words. Tokenizes once (as the callback does), then
prints one JSON line per batch size: seconds per pass, examples/s, peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gptlab.commands import conf_dir
from gptlab.evaluation import hellaswag
from gptlab.model import GPT


def synthetic_examples(
    n: int = hellaswag.VALIDATION_SIZE, seed: int = 0
) -> list[hellaswag.Example]:
    """Examples with contexts of 20-70 words and endings of 8-30 words (HellaSwag's ranges)."""
    import re

    from gptlab.data.pydoc import pydoc_documents

    text = " ".join(list(pydoc_documents().values())[:200])
    words = re.findall(r"[A-Za-z]{2,12}", text)
    rng = random.Random(seed)

    def sentence(low: int, high: int) -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(low, high))) + "."

    return [
        hellaswag.Example(
            sentence(20, 70), tuple(sentence(8, 30) for _ in range(4)), rng.randrange(4)
        )
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2_124m")
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--path", default=None, help="the real hellaswag_val.jsonl, if at hand")
    args = parser.parse_args()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={args.model}"])
    model = GPT(instantiate(cfg.model)).cuda()
    examples = hellaswag.read_jsonl(args.path) if args.path else synthetic_examples()
    torch.backends.cuda.matmul.allow_tf32 = True
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "model": args.model, "examples": len(examples),
                      "data": args.path or "synthetic"}), flush=True)  # fmt: skip

    def autocast() -> torch.autocast:
        return torch.autocast("cuda", dtype=torch.bfloat16)

    started = time.perf_counter()
    examples = hellaswag.render_all(examples, model.cfg.context_length)  # once, as the callback
    print(json.dumps({"tokenize_once_s": round(time.perf_counter() - started, 2)}), flush=True)
    hellaswag.evaluate(model, examples[:64], batch_size=16, autocast=autocast)  # warm-up
    for batch_size in map(int, args.batch_sizes.split(",")):
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        counts, seconds = hellaswag.evaluate(
            model, examples, batch_size=batch_size, autocast=autocast
        )
        wall = time.perf_counter() - started
        print(json.dumps({
            "batch_size": batch_size, "seconds": round(seconds, 2), "wall_s": round(wall, 2),
            "examples_per_s": round(counts.total / seconds, 1), "acc_norm": round(counts.acc_norm, 4),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
