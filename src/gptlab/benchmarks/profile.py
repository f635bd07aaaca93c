"""Where a training step's GPU time goes: kernels grouped by kind, and how long the GPU sat idle;
and the median time of a piece of GPU work, timed with CUDA events."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile


def cuda_median_ms(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median milliseconds of ``fn()`` on the current CUDA stream over ``repeats`` calls, each
    between two CUDA events, after ``warmup`` untimed calls (compiling, first launches)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


# first match wins; kernel names of cuBLAS/CUTLASS, flash/cuDNN attention, Inductor's Triton, ...
KINDS = (
    ("fused: cross-entropy", r"^triton.*(log_softmax|nll)|cross_entropy_kernel"),
    ("fused: LayerNorm", r"^triton.*layer_norm"),
    ("fused: GELU", r"^triton.*(gelu|tanh)"),
    ("fused: other elementwise and reductions", r"^triton"),
    ("attention", r"flash|fmha|attention|sdpa"),
    ("matrix products", r"gemm|cutlass|xmma|nvjet|cublas|matmul"),
    ("optimizer", r"adam|multi_tensor"),
    ("communication", r"nccl"),
    ("copies", r"memcpy|memset|copy"),
    ("other", r""),
)


def kernel_breakdown(prof: profile, wall_s: float, steps: int) -> dict:
    """Per-step milliseconds by kernel kind, the top kernels, and the GPU's idle share of the wall time."""
    by_kind = {name: 0.0 for name, _ in KINDS}
    kernels: list[tuple[str, float]] = []
    for event in prof.key_averages():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        us = getattr(event, "self_device_time_total", None) or event.self_cuda_time_total
        if not us:
            continue
        kernels.append((event.key, us))
        for kind, pattern in KINDS:
            if re.search(pattern, event.key, re.IGNORECASE):
                by_kind[kind] += us
                break
    busy_ms = sum(by_kind.values()) / 1e3 / steps
    wall_ms = wall_s * 1e3 / steps
    top = sorted(kernels, key=lambda k: -k[1])[:20]
    return {
        "steps": steps,
        "wall_ms_per_step": round(wall_ms, 2),
        "gpu_busy_ms_per_step": round(busy_ms, 2),
        "gpu_idle_share": round(max(0.0, 1 - busy_ms / wall_ms), 4),
        "ms_per_step_by_kind": {k: round(v / 1e3 / steps, 2) for k, v in by_kind.items() if v},
        "top_kernels_ms_per_step": [(name[:90], round(us / 1e3 / steps, 2)) for name, us in top],
    }


class StepProfiler(L.Callback):
    """Profiles optimizer steps [first_step, first_step + steps) of a run; writes the breakdown
    as JSON to ``out``."""

    def __init__(self, first_step: int, steps: int, out: str) -> None:
        self.first_step, self.steps, self.out = first_step, steps, Path(out)
        self._prof: profile | None = None
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.first_step and self._prof is None:
            torch.cuda.synchronize()
            self._prof = profile(
                activities=[ProfilerActivity.CUDA]
            )  # kernels only: little overhead
            self._prof.__enter__()
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._prof is not None and trainer.global_step == self.first_step + self.steps:
            torch.cuda.synchronize()
            wall = time.perf_counter() - self._start
            self._prof.__exit__(None, None, None)
            result = kernel_breakdown(self._prof, wall, self.steps)
            self.out.write_text(json.dumps(result))
            self._prof = None
