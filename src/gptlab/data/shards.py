"""Token shards on disk, read through memory maps.

The format is llm.c's (also modded-nanogpt's), so FineWeb shards made by those tools load as they
are: a header of 256 int32 (magic 20240520, version 1, token count) followed by the tokens as
uint16. gptlab writes the same format, plus a ``manifest.json`` beside the shards.
"""

from __future__ import annotations

import hashlib
import json
import os
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptlab import atomic
from gptlab.errors import GptlabError

MAGIC = 20240520
VERSION = 1  # uint16 tokens
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MANIFEST = "manifest.json"


class ShardError(GptlabError):
    """A shard or prepared-data folder that cannot be used; the message names the file."""


def write_shard(path: Path, tokens: np.ndarray) -> str:
    """Write one shard atomically; returns its sha256."""
    if tokens.size and int(tokens.max()) > np.iinfo(np.uint16).max:
        raise ShardError(f"{path}: token ids above 65535 do not fit a uint16 shard")
    header = np.zeros(HEADER_INTS, dtype=np.int32)
    header[:3] = (MAGIC, VERSION, len(tokens))
    body = tokens.astype(np.uint16, copy=False)
    atomic.write_bytes(path, [header.tobytes(), body.tobytes()])
    return file_sha256(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            digest.update(block)
    return digest.hexdigest()


def open_shard(path: Path) -> np.ndarray:
    """Memory-map the tokens of one shard, checking its header and size first."""
    try:
        size = path.stat().st_size
        header = np.fromfile(path, dtype=np.int32, count=HEADER_INTS)
    except OSError as err:
        raise ShardError(f"{path}: cannot read shard ({err.strerror})") from err
    if len(header) < HEADER_INTS or header[0] != MAGIC:
        raise ShardError(
            f"{path}: not a token shard (bad header; expected llm.c magic {MAGIC}); "
            "re-create it with: python -m gptlab prepare"
        )
    if header[1] != VERSION:
        raise ShardError(
            f"{path}: shard version {header[1]} is not supported (only version 1: uint16 tokens); "
            "re-create it with: python -m gptlab prepare"
        )
    count = int(header[2])
    expected = HEADER_BYTES + 2 * count
    if size != expected:
        raise ShardError(
            f"{path}: truncated or corrupt shard ({size} bytes, header says {count} tokens = "
            f"{expected} bytes); delete it and run python -m gptlab prepare again"
        )
    return np.memmap(path, dtype=np.uint16, mode="r", offset=HEADER_BYTES, shape=(count,))


@dataclass
class ShardedTokens:
    """Several shards seen as one token stream; reads may cross shard boundaries."""

    paths: list[Path]
    shards: list[np.ndarray]

    def __post_init__(self) -> None:
        self.starts = np.cumsum([0] + [len(s) for s in self.shards]).tolist()

    @classmethod
    def open(cls, paths: list[Path]) -> ShardedTokens:
        return cls(paths, [open_shard(p) for p in paths])

    def __len__(self) -> int:
        return self.starts[-1]

    def read_into(self, start: int, out: np.ndarray) -> None:
        """Copy tokens [start, start + len(out)) into ``out``."""
        filled, length = 0, len(out)
        shard = bisect_right(self.starts, start) - 1
        while filled < length:
            local = start + filled - self.starts[shard]
            piece = self.shards[shard][local : local + length - filled]
            out[filled : filled + len(piece)] = piece
            filled += len(piece)
            shard += 1

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) as a new int64 array."""
        out = np.empty(length, dtype=np.int64)
        self.read_into(start, out)
        return out

    def path_at(self, position: int) -> Path:
        return self.paths[bisect_right(self.starts, position) - 1]


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ShardError(f"{path}: unreadable manifest ({err}); run python -m gptlab prepare again") from err


def split_paths(folder: Path, split: str) -> list[Path]:
    """Shard files of one split: from gptlab's manifest, else llm.c names (``*_train_*.bin``)."""
    if folder.is_file():
        raise ShardError(
            f"data.path={folder} is a file; give the folder that holds the shards "
            f"(data.path={folder.parent})"
        )
    if not folder.is_dir():
        raise ShardError(
            f"data.path={folder} does not exist; prepare a corpus into it with "
            "python -m gptlab prepare data=text data.source.path=<your files> data.path=<folder>"
        )
    manifest = read_manifest(folder)
    if manifest is not None:
        if split not in manifest["splits"]:
            raise ShardError(f"{folder / MANIFEST}: has no {split!r} split")
        paths = [folder / s["file"] for s in manifest["splits"][split]["shards"]]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise ShardError(f"{missing[0]}: listed in the manifest but missing; run prepare again")
        return paths
    paths = sorted(folder.glob(f"*{split}*.bin"))
    if not paths:
        raise ShardError(
            f"{folder}: no {MANIFEST} and no *{split}*.bin shards; "
            "prepare it with python -m gptlab prepare"
        )
    return paths


def check_token_ids(tokens: ShardedTokens, vocab_size: int) -> None:
    """Refuse shards holding token ids the model cannot embed, at start rather than mid-run: one
    vectorised max over each memory-mapped shard (well under a second per 100M tokens)."""
    for path, shard in zip(tokens.paths, tokens.shards, strict=True):
        if len(shard) and int(shard.max()) >= vocab_size:
            raise ShardError(
                f"{path}: token id {int(shard.max())} >= model.vocab_size={vocab_size}; use the "
                "tokenizer the model was built for or raise model.vocab_size"
            )


def has_split(folder: Path, split: str) -> bool:
    """Whether ``folder`` holds shards of ``split`` (in its manifest, or by llm.c's file names)."""
    manifest = read_manifest(folder)
    if manifest is not None:
        return split in manifest["splits"]
    return any(folder.glob(f"*{split}*.bin"))


def check_vocabulary(folder: Path, vocab_size: int) -> None:
    """Refuse prepared data whose token ids do not fit the model's vocabulary (from the manifest)."""
    manifest = read_manifest(folder)
    if manifest is None:
        return
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            if shard.get("max_token", -1) >= vocab_size:
                raise ShardError(
                    f"{folder / shard['file']}: token id {shard['max_token']} >= model.vocab_size="
                    f"{vocab_size}; use the tokenizer the model was built for or raise model.vocab_size"
                )
