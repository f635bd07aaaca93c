"""What every corpus source yields: pieces of text, ``(text, ends_document)``, and the error of a
source that cannot be read."""

from __future__ import annotations

from gptlab.errors import GptlabError

Piece = tuple[str, bool]  # (text, whether it is a document's last piece)


class SourceError(GptlabError):
    """A corpus source that cannot be read; the message names the key or file."""
