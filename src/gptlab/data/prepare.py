"""Tokenize a corpus into token shards, on all cores, resumable after an interruption.

The pieces of the corpus (see sources.py) are tokenized by a pool of processes, in order. Each
piece goes to the train or the validation split by a seeded hash of its index. Whenever the train
buffer reaches ``shard_tokens``, both buffers are written as one numbered *part* (``train_NNNNNN.bin``
and ``val_NNNNNN.bin``), each atomically, and ``progress.json`` records how many pieces are done. A
rerun skips the finished parts' pieces without tokenizing them again. ``manifest.json`` is written
last: its presence means the folder is complete.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from gptlab import atomic
from gptlab.data.shards import MANIFEST, read_manifest, write_shard
from gptlab.data.pieces import Piece, SourceError
from gptlab.data.sources import ReplacementCounter, iter_pieces
from gptlab.data.tokenizer import EOT_ID, VOCAB_SIZE, gpt2_encoding

log = logging.getLogger(__name__)
PROGRESS = "progress.json"
_MASK64 = (1 << 64) - 1


def is_validation_text(text: str, val_fraction: float, seed: int) -> bool:
    """Seeded choice by the piece's content: the same document lands in the same split on every
    machine, whatever else the corpus holds (``data=pycode``)."""
    digest = hashlib.sha256(f"{seed}:".encode() + text.encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < val_fraction


def is_validation(index: int, val_fraction: float, seed: int) -> bool:
    """Seeded, order-free choice of validation pieces (splitmix64 of the piece index)."""
    if index == 0 and val_fraction > 0:
        return True  # even a tiny corpus gets a validation split
    z = (index + seed * 0x632BE59BD9B4E019 + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return z / 2.0**64 < val_fraction


def tokenize_pieces(
    batch: list[tuple[int, Piece]], val_fraction: float, seed: int, split_by: str
) -> list[tuple[int, np.ndarray, str]]:
    """Worker: (index, token ids with <|endoftext|> after a document's last piece, split) of each
    piece; the split by the piece's index, or by its content (``split_by=content``)."""
    encoding = gpt2_encoding()
    out = []
    for index, (text, ends_document) in batch:
        ids = encoding.encode_ordinary(text)
        if ends_document:
            ids.append(EOT_ID)
        if split_by == "content":
            held_out = is_validation_text(text, val_fraction, seed)
        else:
            held_out = is_validation(index, val_fraction, seed)
        out.append((index, np.asarray(ids, dtype=np.uint16), "val" if held_out else "train"))
    return out


def in_order(pool: Any, fn: Any, batches: Iterable[Any], window: int) -> Iterator[Any]:
    """``fn(batch)`` of each batch, in order, computed by ``pool``, with at most ``window``
    batches in flight; the batches are read here, in the calling thread. Not ``pool.imap``: its
    task thread reads the batches itself, and stopping early then needs ``terminate()``, which can
    wait forever for that thread when a large batch is half written to the workers' pipe (a
    preparation that stopped at ``max_tokens`` hung for minutes)."""
    pending: collections.deque = collections.deque()
    for batch in batches:
        pending.append(pool.apply_async(fn, (batch,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


class PartWriter:
    """Collects train and validation tokens and writes them as numbered parts."""

    def __init__(self, out_dir: Path, state: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.state = state
        self.buffers: dict[str, list[np.ndarray]] = {"train": [], "val": []}
        self.sizes = {"train": 0, "val": 0}

    def add(self, split: str, tokens: np.ndarray) -> None:
        self.buffers[split].append(tokens)
        self.sizes[split] += len(tokens)

    def flush(self, pieces_done: int, replaced_bytes: int) -> None:
        part = len(self.state["parts"])
        written = {}
        for split, chunks in self.buffers.items():
            if not chunks:
                continue
            tokens = np.concatenate(chunks)
            name = f"{split}_{part:06d}.bin"
            sha = write_shard(self.out_dir / name, tokens)
            written[split] = {"file": name, "tokens": len(tokens), "sha256": sha, "max_token": int(tokens.max())}
        self.state["parts"].append(written)
        self.state["pieces_done"] = pieces_done
        self.state["replaced_bytes"] = replaced_bytes
        atomic.write_json(self.out_dir / PROGRESS, self.state)  # after the shards: never ahead of them
        self.buffers = {"train": [], "val": []}
        self.sizes = {"train": 0, "val": 0}


def prepare_corpus(
    source: dict[str, Any],
    out_dir: str | Path,
    shard_tokens: int = 100_000_000,
    val_fraction: float = 0.005,
    piece_chars: int = 100_000,
    seed: int = 0,
    num_proc: int | None = None,
    batch_pieces: int = 16,
    progress: bool = True,
    split_by: str = "index",
) -> dict[str, Any]:
    """Tokenize ``source`` into shards under ``out_dir``; returns the manifest.

    ``split_by``: a piece goes to validation by a seeded hash of its index, or of its content
    (``content``: stable across machines whose corpora differ). ``source.max_tokens`` stops after
    about that many tokens (whole pieces)."""
    out_dir = Path(out_dir)
    source = {k: v for k, v in dict(source).items() if v is not None}
    if source.get("kind") == "pycode":
        from gptlab.data.pycode import describe

        source = describe(source)
    options = {"shard_tokens": shard_tokens, "val_fraction": val_fraction, "piece_chars": piece_chars, "seed": seed}
    if split_by != "index":
        options["split_by"] = split_by
    if shard_tokens < 1 or piece_chars < 1 or not 0 <= val_fraction < 1:
        raise SourceError(f"data.prepare options out of range: {options}")
    if split_by not in ("index", "content"):
        raise SourceError(f"data.prepare.split_by={split_by!r} must be index or content")
    max_tokens = source.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise SourceError(f"data.source.max_tokens={max_tokens!r} must be a positive integer or null")
    manifest = read_manifest(out_dir)
    if manifest is not None and manifest.get("source") == source and manifest.get("options") == options:
        log.info("%s is already prepared (%s)", out_dir, MANIFEST)
        return manifest

    state = {"source": source, "options": options, "parts": [], "pieces_done": 0, "replaced_bytes": 0}
    journal = read_journal(out_dir / PROGRESS)
    if journal and journal.get("source") == source and journal.get("options") == options:
        state = journal
        log.info("resuming: %d parts done, skipping %d pieces", len(state["parts"]), state["pieces_done"])
    out_dir.mkdir(parents=True, exist_ok=True)

    counter = ReplacementCounter()  # re-reading skipped pieces counts their bytes again: exact
    pieces = iter_pieces(source, piece_chars, counter, download_dir=out_dir / "download")
    pieces = itertools.islice(pieces, state["pieces_done"], None)  # read, not tokenized again
    writer = PartWriter(out_dir, state)
    pieces_done = state["pieces_done"]
    num_proc = num_proc or os.cpu_count() or 1
    # a bar on a terminal; in a log (SLURM, a pipe) its repaints would be noise: the line at the
    # end says what was prepared
    shown = progress and sys.stderr.isatty()
    bar = tqdm(desc=f"tokenizing into {out_dir}", unit="tok", unit_scale=True, disable=not shown)
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    tokenize = functools.partial(
        tokenize_pieces, val_fraction=val_fraction, seed=seed, split_by=split_by
    )
    total = sum(part.get(s, {}).get("tokens", 0) for part in state["parts"] for s in ("train", "val"))
    with context.Pool(num_proc, initializer=default_signals) as pool:
        work = batched(enumerate(pieces, start=pieces_done), batch_pieces)
        for results in in_order(pool, tokenize, work, window=2 * num_proc):
            for index, tokens, split in results:
                writer.add(split, tokens)
                bar.update(len(tokens))
                total += len(tokens)
                pieces_done = index + 1
            if writer.sizes["train"] >= shard_tokens:
                writer.flush(pieces_done, counter.count)
            if max_tokens is not None and total >= max_tokens:
                break
        # let the batches in flight finish (their results unused) and the workers exit: the
        # terminate() that leaving the pool's block does is then a no-op
        pool.close()
        pool.join()
    bar.close()
    if writer.sizes["train"] or writer.sizes["val"]:
        writer.flush(pieces_done, counter.count)
    return write_manifest(out_dir, state, pieces_done)


def default_signals() -> None:
    """In a tokenizing worker: the default signal handlers. The pool ends its workers with
    SIGTERM; the handlers a command installs for a clean stop (inherited through fork) would turn
    that into a traceback per worker."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def read_journal(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_manifest(out_dir: Path, state: dict[str, Any], pieces: int) -> dict[str, Any]:
    where = {k: v for k, v in state["source"].items() if k != "distributions"}
    splits: dict[str, dict[str, Any]] = {}
    for split in ("train", "val"):
        shards = [part[split] for part in state["parts"] if split in part]
        splits[split] = {"tokens": sum(s["tokens"] for s in shards), "shards": shards}
    if splits["train"]["tokens"] == 0 and splits["val"]["tokens"] == 0:
        raise SourceError(f"data.source {where}: the corpus is empty (no tokens); check the path")
    if splits["train"]["tokens"] == 0:
        raise SourceError(
            f"data.source {where}: too small to split into train and validation "
            f"({pieces} pieces); lower data.prepare.piece_chars or data.prepare.val_fraction"
        )
    if splits["val"]["tokens"] == 0 and state["options"]["val_fraction"] > 0:
        raise SourceError(
            f"data.source {where}: no piece of the {pieces} read went to validation; raise "
            "data.prepare.val_fraction or data.source.max_tokens"
        )
    manifest = {
        "format": "llm.c token shards: 256 x int32 header (magic 20240520, version 1, count), uint16 tokens",
        "tokenizer": "gpt2",
        "vocab_size": VOCAB_SIZE,
        "eot_id": EOT_ID,
        "source": state["source"],
        "options": state["options"],
        "pieces": pieces,
        "replaced_bytes": state["replaced_bytes"],
        "splits": splits,
    }
    atomic.write_json(out_dir / MANIFEST, manifest)
    (out_dir / PROGRESS).unlink(missing_ok=True)
    if state["replaced_bytes"]:
        log.warning("%d bytes were not valid UTF-8 and became U+FFFD", state["replaced_bytes"])
    log.info(
        "prepared %s: %s train tokens in %d shards, %s validation tokens",
        out_dir,
        f"{splits['train']['tokens']:,}",
        len(splits["train"]["shards"]),
        f"{splits['val']['tokens']:,}",
    )
    return manifest
