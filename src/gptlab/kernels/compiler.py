"""torch.compile of the training loss (``kernels.compile``, ``compile_mode``, ``compile_options``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from gptlab.errors import ConfigError
from gptlab.upstream.torch import inductor_options

# Inductor tiles an elementwise kernel along one dimension unless told otherwise; the gradient of
# rotary positions, written back across the attention's (batch, heads, seq) -> (batch, seq, heads)
# transpose, then reads at a fraction of the memory bandwidth. N-D tiling fixes that (two compiled
# Llama layers: 10.59 ms instead of 11.30 on an H200) but is not a default: on the speedrun preset
# it made the first step compile for 170 s instead of 32 s, and validation's graph compiles again,
# for about 7% more tokens/s (docs/performance.md). Long runs opt in through
# kernels.compile_options; this is the setting the rotary benchmark measures.
ROTARY_OPTIONS = {"triton.prefer_nd_tiling": True}


def check_options(options: Any, mode: str | None) -> None:
    """``kernels.compile_options``: a mapping of known Inductor settings, without a mode."""
    if not options:
        return
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"kernels.compile_options={options!r} must be a mapping of Inductor settings, "
            "e.g. {coordinate_descent_tuning: true}"
        )
    if mode:
        raise ConfigError(
            f"kernels.compile_mode={mode} and kernels.compile_options: torch.compile takes one of "
            "the two; set kernels.compile_mode=null"
        )
    known = inductor_options()
    for key in options:
        if key not in known:
            raise ConfigError(
                f"kernels.compile_options.{key}: not an Inductor setting "
                "(torch._inductor.list_options() lists them)"
            )


def wanted(setting: bool | str, device: torch.device) -> bool:
    """``auto``: on GPUs only (on CPUs compiling takes longer than the short runs made there save)."""
    return device.type == "cuda" if setting == "auto" else bool(setting)


def compiled(
    fn: Callable[..., torch.Tensor],
    mode: str | None,
    options: Mapping[str, Any] | None,
) -> Callable[..., torch.Tensor]:
    """``fn`` through torch.compile, with a mode or Inductor options (torch takes one of the two).

    Dynamo's cache outlives a run and its guards do not cover the attention kernel flags: a later
    run in this process (a sweep's job, a benchmark's variant) would reuse an earlier run's graph,
    and with it that run's kernel; so the cache is cleared first.
    """
    torch.compiler.reset()
    if mode:
        return torch.compile(fn, mode=mode)
    return torch.compile(fn, options=dict(options)) if options else torch.compile(fn)


def compile_for_batch_sizes(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    sizes: tuple[int, ...],
    model: torch.nn.Module,
) -> None:
    """Compile ``loss``'s graphs for every micro-batch size of a batch-size schedule
    (``data.batch_size_schedule``) before training, where the first step's compiling is left out
    of the training time: otherwise each phase's first step would compile inside it. One forward
    and backward pass per size, in the schedule's order, whose gradient goes nowhere (no
    parameter's ``.grad``, no DDP hook). Run it inside the training step's autocast."""
    anchor = next(p for p in model.parameters() if p.requires_grad)
    context = model.cfg.context_length
    for size in dict.fromkeys(sizes):
        # two tensors of their own, as a batch has: a tensor passed twice, or views of one,
        # would compile graphs that guard on that alias or that base
        inputs, targets = (torch.zeros(size, context, dtype=torch.long, device=anchor.device)
                           for _ in range(2))  # fmt: skip
        torch.autograd.grad(loss(inputs, targets), [anchor])
