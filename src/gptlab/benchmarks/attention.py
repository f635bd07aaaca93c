"""Causal attention forward + backward alone, per kernel, at a model's shapes (one GPU).

    python -m gptlab.benchmarks.attention [--batch 32 --heads 12 --seq 1024 --head-dim 64]

Times ``scaled_dot_product_attention`` under each ``kernels.attention`` choice that runs on this
GPU (PyTorch's flash, cuDNN and memory-efficient kernels; FlashAttention-4 where installed) with
CUDA events, bf16, queries, keys and values sliced from one projection as the model makes them.
One JSON line per kernel: milliseconds per forward + backward (median) and TFLOP/s, with the
causal FLOP count (forward 2 B H T^2 D, backward 2.5 times that).
"""

from __future__ import annotations

import argparse
import json
import traceback

import torch
import torch.nn.functional as F

from gptlab.benchmarks.profile import cuda_median_ms
from gptlab.kernels import attention


def time_kernel(name: str, batch: int, heads: int, seq: int, head_dim: int, repeats: int) -> float:
    """Median milliseconds of one forward + backward under ``kernels.attention=name``."""
    emb = heads * head_dim
    qkv = torch.randn(batch, seq, 3 * emb, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    q, k, v = (t.view(batch, seq, heads, head_dim).transpose(1, 2) for t in qkv.split(emb, dim=2))
    grad = torch.randn(batch, heads, seq, head_dim, device="cuda", dtype=torch.bfloat16)

    def step() -> None:
        with attention.kernel_context(name):
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(grad)

    with attention.swapped_in(name, qkv.device):  # FA4 compiles its kernels on first use
        return cuda_median_ms(step, repeats, warmup=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--kernels", default="auto,flash,cudnn,efficient,fa4")
    args = parser.parse_args()
    shape = (args.batch, args.heads, args.seq, args.head_dim)
    forward_flops = 2 * args.batch * args.heads * args.seq**2 * args.head_dim  # causal: half of 4
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "shape_bhtd": shape}))  # fmt: skip
    for name in args.kernels.split(","):
        try:
            attention.check_attention(name, 0.0)
            ms = time_kernel(name, *shape, args.repeats)
        except Exception as err:  # a kernel this GPU or install lacks: say so, time the others
            traceback.print_exc()
            print(json.dumps({"kernel": name, "error": f"{type(err).__name__}: {err}"[:300]}))
            continue
        tflops = 3.5 * forward_flops / (ms / 1e3) / 1e12
        print(json.dumps({"kernel": name, "ms_fwd_bwd": round(ms, 3), "tflops": round(tflops, 1)}))


if __name__ == "__main__":
    main()
