"""Host time per training step: gptlab's Lightning path against a plain loop, on a model so small
that the step is almost all framework overhead.

    python -m gptlab.benchmarks.host_overhead [--steps 400] [-- <train.py overrides>]

On a GPU the host queues work ahead of the card, so this overhead is hidden while a step's GPU
work takes longer than it; for small models (sweeps, tests, short research runs) it is the step
time. Both paths run on the CPU with one thread, the model is 1 layer x 16 wide on 16 tokens, and
the gptlab run reads real shards with the default loader, logs every 10 steps and keeps its
callbacks (last.ckpt every 100 steps). Prints one JSON line: milliseconds per step of each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODEL = dict(vocab_size=512, context_length=16, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)
BATCH = 4


def plain_ms(steps: int, warmup: int = 50) -> float:
    from gptlab.model import GPT, GPTConfig
    from gptlab.optim.groups import parameter_groups

    model = GPT(GPTConfig(**MODEL))
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.1), lr=6e-4, betas=(0.9, 0.95))

    def step() -> None:
        x = torch.randint(0, MODEL["vocab_size"], (BATCH, MODEL["context_length"] + 1))
        model(x[:, :-1], x[:, 1:]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1e3


def gptlab_ms(steps: int, workdir: Path, overrides: list[str], warmup: int = 50) -> float:
    from hydra import compose, initialize_config_dir

    from gptlab.commands import conf_dir
    from gptlab.commands.train import train

    run = workdir / f"run_{time.time_ns()}"
    model = [f"model.{k}={v}" for k, v in MODEL.items()]
    timer = (
        "+callbacks.hand_timer={_target_: gptlab.benchmarks.throughput.HandTimer,"
        f" first_step: {warmup}, last_step: {warmup + steps}, out: '{run}/hand_timer.json'}}"
    )
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose("train", overrides=[
            *model, "data=tokens", f"data.path={workdir / 'shards'}", f"data.batch_size={BATCH}",
            "trainer.accelerator=cpu", f"trainer.max_steps={warmup + steps + 10}",
            "trainer.val_check_interval=1000000", "trainer.limit_val_batches=0",
            "callbacks.text_samples=null", "sample.max_new_tokens=0", "print_config=false",
            "logger=csv", f"paths.root_dir={workdir}", f"paths.output_dir={run}", timer, *overrides,
        ])  # fmt: skip
    train(cfg)
    rate = json.loads((run / "hand_timer.json").read_text())["tokens_per_s"]
    return BATCH * MODEL["context_length"] / rate * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("overrides", nargs="*", help="train.py overrides for the gptlab run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from gptlab.data.shards import write_shard

    workdir = Path(tempfile.mkdtemp(prefix="gptlab-host-"))
    (workdir / "shards").mkdir()
    rng = np.random.default_rng(0)
    ids = rng.integers(0, MODEL["vocab_size"], 2_000_000, dtype=np.uint16)
    write_shard(workdir / "shards" / "host_train_000000.bin", ids)
    write_shard(workdir / "shards" / "host_val_000000.bin", ids[:100_000])
    plain_before = plain_ms(args.steps)
    gptlab = gptlab_ms(args.steps, workdir, args.overrides)
    plain_after = plain_ms(args.steps)
    plain = (plain_before + plain_after) / 2
    line = {"plain_ms_per_step": round(plain, 3), "gptlab_ms_per_step": round(gptlab, 3),
            "gptlab_extra_ms": round(gptlab - plain, 3), "overrides": args.overrides}  # fmt: skip
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
