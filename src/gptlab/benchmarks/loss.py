"""The output layer + cross-entropy alone, forward + backward, per way of computing it (one GPU).

    python -m gptlab.benchmarks.loss [--rows 32768 --emb 768 --vocab 50257] [--sweep]

At a model's shapes (GPT-2 124M at micro-batch 32 by default: 32 x 1024 rows), bf16 autocast,
CUDA events. Ways: ``compiled`` (``nn.Linear`` + ``F.cross_entropy`` under torch.compile, the
default before Liger's kernel), ``liger`` (:mod:`gptlab.kernels.linear_cross_entropy` with Liger-Kernel's kernel, all
rows in one chunk), ``liger_chunks_N`` (the same in chunks of N rows, ``kernels.fused_loss``), and
``torch_chunks_4096`` (the chunked loss in PyTorch operations). One JSON line per way: milliseconds
per forward + backward (median), peak memory above the inputs, and the loss and gradients' largest
difference from the compiled way's. ``--sweep``: the cross-entropy alone on bf16 logits, the compiled
forward + backward against Liger's kernel at each block size and warp count, with the memory
bandwidth each reaches.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from gptlab.benchmarks.profile import cuda_median_ms, kernel_breakdown
from gptlab.kernels.linear_cross_entropy import linear_cross_entropy
from gptlab.kernels.loss import liger_launch
from gptlab.upstream import liger as liger_adapter


def ways(vocab: int, launch: dict[str, int] | None = None) -> dict[str, Callable]:
    """Each way of computing the loss; ``launch``: Liger's (default: what gptlab picks here)."""
    launch = launch or liger_launch(torch.device("cuda"), vocab)

    def compiled(x: torch.Tensor, w: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(F.linear(x, w).float(), t)

    def fused(chunk: int | None, kernel: str) -> Callable:
        return lambda x, w, t: linear_cross_entropy(x, w, t, vocab, chunk, kernel, launch=launch)

    return {
        "compiled": torch.compile(compiled),
        "liger": fused(None, "liger"),
        "liger_chunks_8192": fused(8192, "liger"),
        "liger_chunks_4096": fused(4096, "liger"),
        "torch_chunks_4096": fused(4096, "torch"),
    }


def measure(
    fn: Callable, x: torch.Tensor, w: torch.Tensor, t: torch.Tensor, repeats: int, profiled: bool
) -> dict:
    def step() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x.grad = w.grad = None
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = fn(x, w, t)
        loss.backward()
        return loss.detach(), x.grad, w.grad

    for _ in range(3):  # compile, Triton's first launch
        step()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    last = {}

    def timed() -> None:
        last["result"] = step()

    ms = cuda_median_ms(timed, repeats, warmup=0)
    out = {
        "ms_fwd_bwd": ms,
        "peak_gib": (torch.cuda.max_memory_allocated() - base) / 2**30,
        "result": last["result"],
    }
    if profiled:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            began = time.perf_counter()
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        out["profile"] = kernel_breakdown(prof, time.perf_counter() - began, 3)
    return out


def sweep(rows: int, vocab: int, repeats: int) -> None:
    """The cross-entropy's kernels alone on bf16 logits: loss + gradient, in GB/s of the minimum
    traffic (read the logits once, write their gradient once)."""
    padded = -(-vocab // 64) * 64
    logits = torch.randn(rows, padded, device="cuda", dtype=torch.bfloat16)[:, :vocab]
    t = torch.randint(0, vocab, (rows,), device="cuda")
    minimum = 2 * rows * vocab * 2  # bytes: one read, one write of bf16
    z = logits.clone().requires_grad_()
    compiled = torch.compile(lambda z, t: F.cross_entropy(z.float(), t))

    def inductor() -> None:
        z.grad = None
        compiled(z, t).backward()

    ms = cuda_median_ms(inductor, repeats)
    print(json.dumps({"kernel": "compiled", "ms": round(ms, 3), "gb_s": round(minimum / ms / 1e6)}))
    buffer = logits.clone()
    for block in (2048, 4096, 8192, 16384, 32768, 65536):
        for warps in (4, 8, 16, 32):
            if block > 32768 and warps < 16:
                continue

            def liger(block: int = block, warps: int = warps) -> None:
                launch = {"BLOCK_SIZE": block, "num_warps": warps}
                liger_adapter.cross_entropy_rows(buffer, vocab, t, rows, launch)

            try:
                ms = cuda_median_ms(liger, repeats)
            except Exception as err:  # out of resources at this size: say so, go on
                print(json.dumps({"kernel": "liger", "block": block, "warps": warps,
                                  "error": f"{type(err).__name__}"[:100]}))  # fmt: skip
                continue
            print(json.dumps({"kernel": "liger", "block": block, "warps": warps,
                              "ms": round(ms, 3), "gb_s": round(minimum / ms / 1e6)}), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32 * 1024)
    parser.add_argument("--emb", type=int, default=768)
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--ways", default="compiled,liger,liger_chunks_8192,liger_chunks_4096")
    parser.add_argument("--sweep", action="store_true", help="the cross-entropy kernels alone")
    parser.add_argument("--profile", action="store_true", help="and each way's kernels")
    parser.add_argument(
        "--launches",
        default="",
        help="also time the liger way under these Hopper launches, e.g. 8192x8,4096x16",
    )
    args = parser.parse_args()
    if args.sweep:
        sweep(args.rows, args.vocab, args.repeats)
        return
    torch.manual_seed(0)
    # hidden states as a trained model's last LayerNorm gives them, weights at GPT-2's scale
    x = torch.randn(args.rows, args.emb, device="cuda", requires_grad=True)
    w = (0.02 * torch.randn(args.vocab, args.emb, device="cuda")).requires_grad_()
    t = torch.randint(0, args.vocab, (args.rows,), device="cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "rows": args.rows, "emb": args.emb, "vocab": args.vocab}))  # fmt: skip
    table = ways(args.vocab)
    reference = None
    for name in args.ways.split(","):
        try:
            out = measure(table[name], x, w, t, args.repeats, args.profile)
        except Exception as err:  # a way this install lacks: say so, time the others
            traceback.print_exc()
            print(json.dumps({"way": name, "error": f"{type(err).__name__}: {err}"[:300]}))
            continue
        loss, gx, gw = out.pop("result")
        if reference is None:
            reference = (loss.clone(), gx.clone(), gw.clone())
        breakdown = out.pop("profile", None)
        line = {"way": name, **{k: round(v, 3) for k, v in out.items()}}
        line["loss"] = loss.item()
        line["loss_diff"] = (loss - reference[0]).abs().item()
        line["grad_x_max_rel"] = ((gx - reference[1]).abs().max() / reference[1].abs().max()).item()
        line["grad_w_max_rel"] = ((gw - reference[2]).abs().max() / reference[2].abs().max()).item()
        print(json.dumps(line), flush=True)
        if breakdown:
            print(json.dumps({"way": name, "profile": breakdown}), flush=True)
    for launch in filter(None, args.launches.split(",")):  # in the model's op, not alone
        block, warps = map(int, launch.split("x"))
        chosen = ways(args.vocab, {"BLOCK_SIZE": block, "num_warps": warps})["liger"]
        out = measure(chosen, x, w, t, args.repeats, args.profile)
        line = {"way": "liger", "launch": launch, "ms_fwd_bwd": round(out["ms_fwd_bwd"], 3)}
        if "profile" in out:
            line["cross_entropy_ms"] = out["profile"]["ms_per_step_by_kind"].get(
                "fused: cross-entropy"
            )
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
