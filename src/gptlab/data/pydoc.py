"""The embedded default corpus: the English documentation shipped inside CPython.

``pydoc_data.topics`` holds the text of Python's reference manual topics (about 0.5 MB,
~140k GPT-2 tokens) on every machine with Python, so the first run needs no download.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from gptlab.data.tokenizer import EOT_ID, gpt2_encoding


def pydoc_documents() -> list[str]:
    """The documentation topics, in a fixed order so the token stream is reproducible."""
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def tokenize_documents(documents: list[str]) -> np.ndarray:
    """Encode each document and put <|endoftext|> after each, as GPT-2 did; uint16 ids."""
    ids: list[int] = []
    for doc_ids in gpt2_encoding().encode_ordinary_batch(documents):
        ids.extend(doc_ids)
        ids.append(EOT_ID)
    return np.asarray(ids, dtype=np.uint16)


def write_atomic(path: Path, array: np.ndarray) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    array.tofile(tmp)
    os.replace(tmp, path)


def pydoc_tokens(cache_dir: str | Path) -> np.ndarray:
    """Token ids of the pydoc corpus, tokenized once and cached in ``cache_dir``."""
    documents = pydoc_documents()
    digest = hashlib.sha256("\0".join(documents).encode()).hexdigest()[:12]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    path = Path(cache_dir) / f"pydoc-py{version}-{digest}.uint16.bin"
    if path.exists():
        return np.fromfile(path, dtype=np.uint16)
    tokens = tokenize_documents(documents)
    write_atomic(path, tokens)
    return tokens
