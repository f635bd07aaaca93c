"""Generation speed with and without the key/value cache (CPU by default).

    python -m gptlab.benchmarks.generation [--model gpt2_124m] [--new-tokens 256]

Greedy decoding from a randomly initialised model (speed does not depend on the weights), same
prompt, both ways; checks that both give the same tokens and prints tokens/s and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gptlab.model import GPT, GPTConfig
from gptlab.model.generate import generate

SIZES = {
    "gpt2_124m": {},
    "gpt2_medium": {"emb_dim": 1024, "n_layers": 24, "n_heads": 16},
    "gpt_tiny": {"context_length": 128, "emb_dim": 128, "n_heads": 4, "n_layers": 2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2_124m", choices=sorted(SIZES))
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = GPT(GPTConfig(drop_rate=0.0, **SIZES[args.model])).to(args.device).eval()
    prompt = torch.randint(0, 50257, (1, args.prompt_tokens), device=args.device)
    results = {"model": args.model, "device": args.device, "threads": torch.get_num_threads()}
    outputs = {}
    for use_cache in (True, False):
        generate(model, prompt, 4, temperature=0, stop_token=None, use_cache=use_cache)  # warm-up
        start = time.perf_counter()
        outputs[use_cache] = generate(
            model, prompt, args.new_tokens, temperature=0, stop_token=None, use_cache=use_cache
        )
        seconds = time.perf_counter() - start
        results[f"{'cache' if use_cache else 'recompute'}_tokens_per_s"] = round(
            args.new_tokens / seconds, 1
        )
    results["speedup"] = round(results["cache_tokens_per_s"] / results["recompute_tokens_per_s"], 2)
    results["same_tokens"] = bool(torch.equal(outputs[True], outputs[False]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
