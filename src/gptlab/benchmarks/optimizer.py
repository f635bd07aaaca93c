"""What one optimizer step costs on a GPU, apart from the forward and backward pass.

    python -m gptlab.benchmarks.optimizer [--repeats 50] [-- <train.py overrides>]

The model of the overrides (default: ``experiment=speedrun_124m``'s) gets random gradients; each
way of stepping it is timed with CUDA events (median of ``--repeats``, after warm-up and
compiling): fused AdamW over every parameter (GPT-2's optimizer), and ``optim=muon`` with Muon's
update eager and compiled (:class:`gptlab.optim.muon_step.BatchedMuon`). One JSON line each, with
the milliseconds and how far the compiled Muon update lands from the eager one.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys

import torch

from gptlab.benchmarks.profile import cuda_median_ms
from gptlab.model import GPT
from gptlab.optim.build import build_optimizer
from gptlab.optim.config import OptimConfig


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from gptlab.commands import conf_dir
    from gptlab.runtime.spec import architecture

    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = hydra_compose("train", overrides=overrides)
    return architecture(cfg.model), OptimConfig.from_dict(dict(cfg.optim))


def timed(model: GPT, optim: OptimConfig, compiled: bool, repeats: int) -> tuple[float, GPT]:
    """Median milliseconds of one step, and the model after the warm-up's three steps."""
    model = copy.deepcopy(model)
    optimizer = build_optimizer(model, optim, fused=True, compiled=compiled)
    generator = torch.Generator(device="cuda").manual_seed(0)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, device="cuda", generator=generator) * 1e-3
    torch.compiler.reset()
    for _ in range(3):  # the state the timed steps start from: equal for every way
        optimizer.step()
    after = copy.deepcopy(model)
    return cuda_median_ms(optimizer.step, repeats, warmup=2), after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("overrides", nargs="*", default=["experiment=speedrun_124m"])
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("error: the optimizer benchmark needs a CUDA GPU", file=sys.stderr)
        return 2
    cfg, optim = compose(args.overrides)
    torch.manual_seed(0)
    model = GPT(cfg).cuda()
    adamw = OptimConfig(**{**vars(optim), "name": "adamw"})
    muon = OptimConfig(**{**vars(optim), "name": "muon"})
    ms, _ = timed(model, adamw, False, args.repeats)
    print(json.dumps({"name": "adamw_fused", "ms": round(ms, 3)}), flush=True)
    results = {}
    for compiled in (False, True):
        ms, results[compiled] = timed(model, muon, compiled, args.repeats)
        print(json.dumps({"name": f"muon_{'compiled' if compiled else 'eager'}",
                          "ms": round(ms, 3)}), flush=True)  # fmt: skip
    # the weights after three steps: how far the compiled update is from the eager one (bf16
    # Newton-Schulz is not bit-equal once fused), relative to the change the steps made
    pairs = zip(results[True].parameters(), results[False].parameters(), model.parameters(),
                strict=True)  # fmt: skip
    moved = [(c - e).norm() / (e - m).norm().clamp(min=1e-12) for c, e, m in pairs]
    print(json.dumps({"name": "compiled_vs_eager", "max_relative_difference":
                      round(max(float(x) for x in moved), 4)}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
