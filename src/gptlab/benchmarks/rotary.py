"""What rotary positions cost in a compiled training step, with and without Inductor's N-D tiling
(:data:`gptlab.kernels.compiler.ROTARY_OPTIONS`, opt-in through ``kernels.compile_options``), on
one GPU.

    python -m gptlab.benchmarks.rotary [--layers 2] [--batch 32] [--repeats 20]

A Llama-style stack (RMSNorm, SwiGLU, no biases) of ``--layers`` layers at GPT-2 small's width
and 1,024 positions, its loss forward and backward compiled, timed with CUDA events (median):
with learned positions (no rotation at all), with rotary positions under torch's defaults, and
with rotary positions under N-D tiling. One JSON line each: milliseconds per step, and the seconds
the first step took (compiling), which is what the tiling costs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

from gptlab.benchmarks.profile import cuda_median_ms
from gptlab.kernels import compiler
from gptlab.model import GPT, GPTConfig


def step_ms(cfg: GPTConfig, batch: int, repeats: int, options: dict) -> tuple[float, float]:
    """(median milliseconds of a compiled step, seconds of the first step)."""
    torch.manual_seed(0)
    model = GPT(cfg).cuda()
    shape = (batch, cfg.context_length)
    inputs = torch.randint(0, cfg.vocab_size, shape, device="cuda")
    targets = torch.randint(0, cfg.vocab_size, shape, device="cuda")

    def loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", torch.bfloat16):
            logits = model(inputs)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())

    fn = compiler.compiled(loss, None, options)
    started = time.perf_counter()
    fn(inputs, targets).backward()
    torch.cuda.synchronize()
    first_s = time.perf_counter() - started
    return cuda_median_ms(lambda: fn(inputs, targets).backward(), repeats, warmup=2), first_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gptlab.benchmarks.rotary")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: python -m gptlab.benchmarks.rotary times CUDA kernels: run it on a GPU",
              file=sys.stderr)  # fmt: skip
        raise SystemExit(2)
    llama = {"norm": "rmsnorm", "mlp": "swiglu", "bias": False, "tie_weights": False}
    base = GPTConfig(vocab_size=8192, n_layers=args.layers, drop_rate=0.0, **llama)
    rope = GPTConfig(**{**base.__dict__, "pos_emb": "rope"})
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__}))
    for name, cfg, options in [
        ("learned positions", base, {}),
        ("rotary, torch's defaults", rope, {}),
        ("rotary, N-D tiling", rope, compiler.ROTARY_OPTIONS),
    ]:
        ms, first_s = step_ms(cfg, args.batch, args.repeats, options)
        line = {
            "name": name,
            "layers": args.layers,
            "ms_per_step": round(ms, 3),
            "first_step_s": round(first_s, 1),
            **options,
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
