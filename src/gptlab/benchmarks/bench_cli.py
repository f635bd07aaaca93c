"""The command line of ``gptlab bench`` (:mod:`gptlab.benchmarks.throughput`), importable
without torch so that ``--help`` answers at once."""

from __future__ import annotations

import argparse


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptlab bench",
        description="GPU training throughput, gptlab against a plain PyTorch loop, on one card",
    )
    parser.add_argument("--micro-batches", default="16,32", help="plain-loop micro-batches to try")
    parser.add_argument(
        "--lightning-micro-batches", default="32", help="gptlab micro-batches to try"
    )
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repeats of plain loop + gptlab runs (each ratio against its own repeat's plain loop)",
    )
    parser.add_argument(
        "--plain-clip-in-step",
        action="store_true",
        help="also time the plain loop with its clipping inside fused AdamW's kernel",
    )
    parser.add_argument(
        "--plain-attention",
        default="",
        help="also time the plain loop with this kernels.attention kernel (e.g. fa4)",
    )
    parser.add_argument("--model", default="gpt2_124m", help="the model preset of the gptlab runs")
    parser.add_argument(
        "--profile-steps", type=int, default=0, help="also profile this many steps of each path"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=K=V;K=V",
        help="also run the Lightning path with these extra overrides (repeatable)",
    )
    parser.add_argument("overrides", nargs="*", help="train.py overrides for the Lightning path")
    return parser
