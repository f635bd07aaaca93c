"""Where a corpus comes from: local text files, local tables, Hugging Face datasets, or a URL.

Every source yields *pieces*: ``(text, ends_document)``. A document is cut into pieces of at most
``piece_chars`` characters (at paragraph or line breaks) so one large file still spreads over all
processes and over the train/validation split; ``<|endoftext|>`` goes only after a document's last
piece.
"""

from __future__ import annotations

import codecs
import glob
import os
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gptlab import atomic
from gptlab.data.pieces import Piece, SourceError
from gptlab.data.pycode import pycode_pieces

TABLE_KINDS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".arrow": "arrow"}


class ReplacementCounter:
    """A codecs error handler that replaces undecodable bytes with U+FFFD and counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.name = f"gptlab-count-{id(self)}"
        codecs.register_error(self.name, self)

    def __call__(self, err: UnicodeDecodeError) -> tuple[str, int]:
        self.count += err.end - err.start
        return "\ufffd", err.end


def expand_paths(pattern: str, suffixes: tuple[str, ...]) -> list[Path]:
    """A file, every matching file under a folder, or the files of a glob; sorted."""
    path = Path(pattern).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        what = "folder has no " + "/".join(suffixes) + " files" if path.is_dir() else "matches no file"
        raise SourceError(f"data.source.path={pattern}: {what}; point it at your corpus")
    return files


def split_text(text: str, piece_chars: int) -> Iterator[str]:
    """Cut ``text`` into pieces of at most ``piece_chars``, preferring paragraph then line breaks."""
    start = 0
    while len(text) - start > piece_chars:
        end = start + piece_chars
        cut = text.rfind("\n\n", start, end - 1) + 2  # just after a paragraph break
        if cut <= start + 1:
            cut = text.rfind("\n", start, end) + 1  # else after a line break
        if cut <= start:
            cut = end  # else a hard cut
        yield text[start:cut]
        start = cut
    if start < len(text):
        yield text[start:]


def text_file_pieces(files: list[Path], piece_chars: int, counter: ReplacementCounter) -> Iterator[Piece]:
    for file in files:
        text = file.read_bytes().decode("utf-8", errors=counter.name)
        pieces = list(split_text(text, piece_chars))
        for i, piece in enumerate(pieces):
            yield piece, i == len(pieces) - 1


def table_pieces(rows: Any, text_field: str, where: str, piece_chars: int) -> Iterator[Piece]:
    """Rows of a ``datasets`` dataset (local files or the Hub), one document per row."""
    for i, row in enumerate(rows):
        if text_field not in row:
            raise SourceError(
                f"{where}: row {i} has no field data.source.text_field={text_field!r}; "
                f"its fields are {sorted(row)}"
            )
        text = row[text_field] or ""
        pieces = list(split_text(text, piece_chars))
        for j, piece in enumerate(pieces):
            yield piece, j == len(pieces) - 1


def ensure_online(host: str, what: str, timeout: float = 3.0) -> None:
    """Fail at once, in one line, when a download cannot work (offline machine or HF offline mode)."""
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    if not offline:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            return
        except OSError:
            pass
    raise SourceError(
        f"{what} needs a download from {host}, which this machine cannot reach; prepare it on a "
        "machine with internet and copy the folder (data.path), or use data=text with local files"
    )


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` to ``dest`` once (atomic rename), for small corpora such as tinyshakespeare."""
    if dest.is_file():
        return dest
    host = urllib.parse.urlparse(url).hostname or url
    ensure_online(host, f"data.source.url={url}")
    with urllib.request.urlopen(url, timeout=60) as response:
        return atomic.write_bytes(dest, [response.read()])


def load_rows(source: dict[str, Any]) -> tuple[Any, str]:
    """A streaming ``datasets`` dataset for local tables or a Hub dataset, and a name for errors."""
    try:
        import datasets
    except ImportError as err:
        raise SourceError(
            f"data.source.kind={source['kind']} needs the datasets package: pip install -e '.[data]'"
        ) from err
    if source["kind"] == "hf":
        name = source.get("name")
        if not name:
            raise SourceError("data.source.name is required for a Hugging Face dataset")
        ensure_online("huggingface.co", f"data.source.name={name}")
        rows = datasets.load_dataset(
            name, source.get("config"), split=source.get("split", "train"), streaming=source.get("streaming", True)
        )
        return rows, name
    files = [str(p) for p in expand_paths(source["path"], tuple(TABLE_KINDS))]
    rows = datasets.load_dataset(source["kind"], data_files=files, split="train", streaming=True)
    return rows, source["path"]


def source_kind(source: dict[str, Any]) -> str:
    kind = source.get("kind", "auto")
    if kind != "auto":
        if kind not in ("text", "json", "parquet", "arrow", "hf", "url", "pycode"):
            raise SourceError(
                f"data.source.kind={kind!r} must be text, json, parquet, arrow, hf, url or pycode"
            )
        return kind
    if source.get("name"):
        return "hf"
    if source.get("url"):
        return "url"
    path = source.get("path")
    if not path:
        raise SourceError("data.source.path is required: a file, folder or glob of your corpus")
    first = expand_paths(str(path), (".txt", *TABLE_KINDS))[0]
    return TABLE_KINDS.get(first.suffix, "text")


def iter_pieces(
    source: dict[str, Any], piece_chars: int, counter: ReplacementCounter, download_dir: Path
) -> Iterator[Piece]:
    """Every piece of the corpus, in a fixed order. Checks the source (paths, network) at once."""
    source = {**source, "kind": source_kind(source)}
    kind = source["kind"]
    if kind == "text":
        return text_file_pieces(expand_paths(str(source["path"]), (".txt",)), piece_chars, counter)
    if kind == "pycode":
        return pycode_pieces(source)
    if kind == "url":
        url = source["url"]
        file = download(url, download_dir / Path(urllib.parse.urlparse(url).path).name)
        return text_file_pieces([file], piece_chars, counter)
    rows, where = load_rows(source)
    return table_pieces(rows, source.get("text_field", "text"), where, piece_chars)
