"""The reference a throughput is compared with: a plain PyTorch training loop over gptlab's GPT,
written as the widely used reference loops are (torch.compile, fused AdamW, bf16 autocast, flash
attention, random tokens, gradient clipping, no host sync in the step), and the card's bf16
matrix-product ceiling."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from gptlab.benchmarks.profile import cuda_median_ms, kernel_breakdown
from gptlab.data.shards import write_shard
from gptlab.kernels import attention
from gptlab.model import GPT, GPTConfig
from gptlab.optim.groups import parameter_groups


def matmul_ceiling(n: int = 8192, repeats: int = 20) -> float:
    """Median bf16 TFLOP/s of an n x n x n matrix product on random data."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    return 2 * n**3 / (cuda_median_ms(lambda: a @ b, repeats) / 1e3) / 1e12


def plain_loop(
    config: GPTConfig,
    micro_batch: int,
    steps: int,
    warmup: int,
    window: int = 10,
    profile_steps: int = 0,
    clip_in_step: bool = False,
    attention_kernel: str = "auto",
) -> dict:
    """tokens/s of a reference-style loop: compile, fused AdamW, bf16 autocast, clipping.
    ``clip_in_step``: the clipping factor applied inside fused AdamW's kernel (``grad_scale``, as
    torch's GradScaler unscales) instead of ``clip_grad_norm_``'s separate pass over the gradients:
    measured not faster, so gptlab does not do it (docs/performance.md).
    ``attention_kernel``: a ``kernels.attention`` choice, run inside
    :func:`gptlab.kernels.attention.swapped_in` (``fa4``: the same kernel swap as gptlab's, to
    tell the kernel's gain from the framework's)."""
    torch.compiler.reset()  # a graph of an earlier run would keep that run's attention kernel
    torch.manual_seed(0)
    model = GPT(config).cuda()
    optimizer = torch.optim.AdamW(
        parameter_groups(model, 0.1), lr=6e-4, betas=(0.9, 0.95), fused=True
    )
    step_fn = torch.compile(model)
    T = config.context_length

    def step() -> None:
        x = torch.randint(0, config.vocab_size, (micro_batch, T + 1), device="cuda")
        with (
            torch.autocast("cuda", dtype=torch.bfloat16),
            attention.kernel_context(attention_kernel),
        ):
            loss = step_fn(x[:, :-1], x[:, 1:])
        loss.backward()
        if clip_in_step:  # fused AdamW divides every gradient by grad_scale in its own kernel
            grads = [p.grad for p in model.parameters()]
            norm = torch.nn.utils.get_total_norm(grads, foreach=True)
            optimizer.grad_scale = 1.0 / torch.clamp(1.0 / (norm + 1e-6), max=1.0)
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    rates = []
    for _ in range(max(1, (steps - warmup) // window)):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(window):
            step()
        end.record()
        end.synchronize()
        rates.append(window * micro_batch * T / (start.elapsed_time(end) / 1e3))
    result = {
        "tokens_per_s": statistics.median(rates),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
        "flops_per_token": model.flops_per_token(),
    }
    if profile_steps:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            start = time.perf_counter()
            for _ in range(profile_steps):
                step()
            torch.cuda.synchronize()
            wall = time.perf_counter() - start
        result["profile"] = kernel_breakdown(prof, wall, profile_steps)
    return result


def random_shards(folder: Path, tokens: int, vocab_size: int = 50257) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_shard(
        folder / "bench_train_000000.bin", rng.integers(0, vocab_size, tokens, dtype=np.uint16)
    )
    write_shard(
        folder / "bench_val_000000.bin", rng.integers(0, vocab_size, 1 << 20, dtype=np.uint16)
    )
    return folder
