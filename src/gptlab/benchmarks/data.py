"""Data pipeline throughput: prepare (all cores vs one process) and the shard loader.

    python -m gptlab.benchmarks.data --tokens 20000000 --workdir /tmp/gptlab-bench

Writes a synthetic text corpus of about ``--tokens`` GPT-2 tokens (sentences drawn from CPython's
documentation), prepares it with one process and with all cores, checks the manifest against the
shards, then times batches of 8 x 1024 tokens from the memory-mapped shards on one loader worker.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

from gptlab.data.datamodule import ShardDataModule
from gptlab.data.prepare import prepare_corpus
from gptlab.data.pydoc import pydoc_documents
from gptlab.data.shards import open_shard

H100_GPT2_TOKENS_PER_S = 500_000  # what one H100 consumes training GPT-2 124M (docs/benchmarks.md)


def write_corpus(folder: Path, tokens: int, seed: int = 0) -> None:
    """Text files of shuffled documentation lines, about 4 characters per token."""
    lines = [line for doc in pydoc_documents() for line in doc.splitlines() if line.strip()]
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    target_chars, file_chars, written, index = tokens * 4.2, 2_000_000, 0, 0
    while written < target_chars:
        text = "\n".join(rng.choices(lines, k=file_chars // 60))
        (folder / f"doc{index:05d}.txt").write_text(text)
        written += len(text)
        index += 1


def time_prepare(corpus: Path, out: Path, num_proc: int) -> tuple[dict, float]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    manifest = prepare_corpus({"path": str(corpus)}, out, num_proc=num_proc, progress=False)
    return manifest, time.perf_counter() - start


def check_manifest(folder: Path, manifest: dict) -> int:
    total = 0
    for split in manifest["splits"].values():
        counted = sum(len(open_shard(folder / s["file"])) for s in split["shards"])
        assert counted == split["tokens"], (
            f"{folder}: manifest says {split['tokens']}, shards hold {counted}"
        )
        total += counted
    return total


def time_loader(folder: Path, batches: int, batch_size: int, context: int, workers: int) -> float:
    dm = ShardDataModule(
        path=str(folder),
        context_length=context,
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=False,
    )
    loader = iter(dm.train_dataloader())
    for _ in range(20):  # warm-up: worker start, page cache
        next(loader)
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gptlab-bench-data"))
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()

    corpus = args.workdir / "corpus"
    if not corpus.is_dir():
        write_corpus(corpus, args.tokens)
    cores = os.cpu_count() or 1
    results = {"cores": cores}
    for label, procs in (("one_process", 1), ("all_cores", cores)):
        manifest, seconds = time_prepare(corpus, args.workdir / f"shards_{label}", procs)
        tokens = check_manifest(args.workdir / f"shards_{label}", manifest)
        results[f"prepare_{label}_tokens_per_s"] = round(tokens / seconds)
        results["tokens"] = tokens
    results["prepare_speedup"] = round(
        results["prepare_all_cores_tokens_per_s"] / results["prepare_one_process_tokens_per_s"], 2
    )
    batch, context = 8, 1024
    rate = time_loader(args.workdir / "shards_all_cores", args.batches, batch, context, workers=1)
    results["loader_batches_per_s"] = round(rate, 1)
    results["loader_tokens_per_s"] = round(rate * batch * context)
    results["loader_vs_h100_gpt2"] = round(rate * batch * context / H100_GPT2_TOKENS_PER_S, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
