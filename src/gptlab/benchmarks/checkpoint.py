"""How long saving a training checkpoint takes: gptlab's atomic write against Lightning's.

    python -m gptlab.benchmarks.checkpoint [--model gpt2_124m] [--folder DIR] [--repeats 3]

Builds the model and AdamW state on the GPU (CPU without one), then writes the same dictionary a
Lightning checkpoint holds (weights + optimizer state) with: Lightning's own atomic save (the whole
file in memory, then a move), gptlab's :func:`~gptlab.checkpoints.io.atomic_save` (a temporary file
beside the target, fsync, rename), and the same without fsync. Prints one JSON line per method.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gptlab.checkpoints.io import atomic_save
from gptlab.model import GPT
from gptlab.upstream.lightning import lightning_atomic_save

ROOT = Path(__file__).resolve().parents[3]


def checkpoint_like(model_name: str) -> dict:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"model={model_name}"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = GPT(instantiate(cfg.model)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model(
        torch.zeros(1, 8, dtype=torch.long, device=device),
        torch.zeros(1, 8, dtype=torch.long, device=device),
    ).backward()
    optimizer.step()  # creates the two moment tensors per parameter
    return {"state_dict": model.state_dict(), "optimizer_states": [optimizer.state_dict()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gpt2_124m")
    parser.add_argument("--folder", default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="gptlab-ckpt-"))
    checkpoint = checkpoint_like(args.model)
    no_fsync = mock.patch("gptlab.checkpoints.io.os.fsync")
    methods = {
        "lightning_atomic_save": lambda p: lightning_atomic_save()(checkpoint, p),
        "gptlab_atomic_save": lambda p: atomic_save(checkpoint, p),
        "gptlab_without_fsync": lambda p: (
            no_fsync.start(),
            atomic_save(checkpoint, p),
            no_fsync.stop(),
        ),
    }
    for name, save in methods.items():
        times = []
        for _ in range(args.repeats):
            path = folder / "last.ckpt"
            start = time.perf_counter()
            save(path)
            times.append(time.perf_counter() - start)
        size = os.path.getsize(folder / "last.ckpt")
        seconds = statistics.median(times)
        print(
            json.dumps(
                {
                    "method": name,
                    "model": args.model,
                    "gib": round(size / 2**30, 3),
                    "seconds": round(seconds, 3),
                    "gib_per_s": round(size / 2**30 / seconds, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
