"""The embedded default corpus: the English documentation shipped inside CPython.

``pydoc_data.topics`` holds the text of Python's reference manual topics (79 topics, about 0.5 MB,
~140k GPT-2 tokens) on every machine with Python, so the first run needs no download. Whole topics
are held out for validation and test, chosen by a seeded hash of their names: the splits are
representative (taking the last 10% of the text gave mostly ASCII tables, a validation loss a
whole nat below the training loss) and the same on every machine.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from gptlab import atomic
from gptlab.data.tokenizer import EOT_ID, gpt2_encoding

SPLITS = ("train", "val", "test")


def pydoc_documents() -> dict[str, str]:
    """The documentation topics by name."""
    from pydoc_data.topics import topics

    return dict(topics)


def tokenize_documents(documents: list[str]) -> np.ndarray:
    """Encode each document and put <|endoftext|> after each, as GPT-2 did; uint16 ids."""
    ids: list[int] = []
    for doc_ids in gpt2_encoding().encode_ordinary_batch(documents):
        ids.extend(doc_ids)
        ids.append(EOT_ID)
    return np.asarray(ids, dtype=np.uint16)


def split_of(name: str, val_fraction: float, test_fraction: float, seed: int) -> str:
    """train, val or test for the document ``name``: a seeded hash, the same on every machine."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    if u < val_fraction:
        return "val"
    return "test" if u < val_fraction + test_fraction else "train"


def split_documents(
    documents: dict[str, str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Document names of each split, in sorted order; no held-out split is left empty."""
    names = sorted(documents)
    splits = {s: [n for n in names if split_of(n, val_fraction, test_fraction, seed) == s] for s in SPLITS}
    for split, fraction in (("val", val_fraction), ("test", test_fraction)):
        if fraction > 0 and not splits[split]:  # a tiny fraction: take one train document
            splits[split].append(splits["train"].pop())
    return splits


def pydoc_tokens(
    cache_dir: str | Path, val_fraction: float = 0.1, test_fraction: float = 0.05, seed: int = 0
) -> dict[str, np.ndarray]:
    """Token ids of each split of the pydoc corpus, tokenized once and cached in ``cache_dir``."""
    documents = pydoc_documents()
    names = split_documents(documents, val_fraction, test_fraction, seed)
    key = repr((sorted(documents.items()), val_fraction, test_fraction, seed))
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    tokens: dict[str, np.ndarray] = {}
    for split in SPLITS:
        path = Path(cache_dir) / f"pydoc-py{version}-{digest}-{split}.uint16.bin"
        if not path.exists():
            ids = tokenize_documents([documents[n] for n in names[split]])
            atomic.write_bytes(path, [ids.tobytes()])
        tokens[split] = np.fromfile(path, dtype=np.uint16)
    return tokens
