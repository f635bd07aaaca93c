"""HellaSwag (Zellers et al. 2019) scored the way llm.c and nanoGPT score it during pretraining.

Each example is a context and four endings, one of them right. Every ending is scored by the
model's loss on the ending's tokens given the context: ``acc`` picks the ending with the lowest
summed loss, ``acc_norm`` the lowest mean loss per token (the number usually quoted: GPT-2 124M
reaches 0.2955 with OpenAI's weights). The context and ending are tokenized separately, the ending
with a leading space, as those references do.

Data: the original ``hellaswag_val.jsonl`` (10,042 examples; fields ``ctx``, ``endings``,
``label``), from a local file or, online, from Hugging Face ``datasets`` (``Rowan/hellaswag``).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gptlab.errors import GptlabError

ORIGINAL_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
HUB_DATASET = "Rowan/hellaswag"
VALIDATION_SIZE = 10_042


class HellaSwagError(GptlabError):
    """The HellaSwag file is missing, unreadable, or cannot be downloaded."""


@dataclass(frozen=True)
class Example:
    context: str
    endings: tuple[str, ...]
    label: int


def _example(row: dict[str, Any], where: str) -> Example:
    try:
        endings = tuple(str(e) for e in row["endings"])
        label = int(row["label"])
        context = str(row["ctx"])
    except (KeyError, TypeError, ValueError) as err:
        raise HellaSwagError(
            f"{where}: not a HellaSwag example (needs ctx, endings, label: {err}); use the original "
            f"hellaswag_val.jsonl ({ORIGINAL_URL})"
        ) from err
    if not 0 <= label < len(endings):
        raise HellaSwagError(f"{where}: label {label} is not the index of one of its endings")
    return Example(context, endings, label)


def read_jsonl(path: str | Path) -> list[Example]:
    """Examples from a file in the original format: one JSON object per line."""
    path = Path(path)
    if not path.is_file():
        raise HellaSwagError(
            f"callbacks.hellaswag.path={path} does not exist; download hellaswag_val.jsonl from "
            f"{ORIGINAL_URL} and give its path"
        )
    examples = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise HellaSwagError(f"{path}:{number}: not JSON ({err.msg})") from err
            examples.append(_example(row, f"{path}:{number}"))
    if not examples:
        raise HellaSwagError(f"{path} holds no examples")
    return examples


def download() -> list[Example]:
    """The validation split through Hugging Face ``datasets`` (online, or its local cache)."""
    try:
        import datasets
    except ImportError as err:
        raise HellaSwagError(
            "HellaSwag needs a local hellaswag_val.jsonl (callbacks.hellaswag.path=...) or the "
            'datasets package to download it: pip install -e ".[data]"'
        ) from err
    try:
        rows = datasets.load_dataset(HUB_DATASET, split="validation")
    except Exception as err:  # offline, blocked, renamed: one line with the way out
        raise HellaSwagError(
            f"the HellaSwag validation set could not be downloaded ({type(err).__name__}); on a "
            f"machine without internet, copy hellaswag_val.jsonl ({ORIGINAL_URL}) there and set "
            "its path (callbacks.hellaswag.path=... for training, hellaswag.path=... for eval.py)"
        ) from err
    return [_example(row, f"{HUB_DATASET} row {i}") for i, row in enumerate(rows)]


def load_examples(path: str | Path | None, limit: int | None = None) -> list[Example]:
    """``limit`` examples (all when None) from ``path``, or downloaded when ``path`` is None."""
    if limit is not None and limit < 1:
        raise HellaSwagError(f"hellaswag limit={limit} must be >= 1 or null (all examples)")
    examples = read_jsonl(path) if path else download()
    return examples[:limit] if limit else examples


@dataclass(frozen=True)
class Rendered:
    """One example as ``len(endings)`` token rows: the context, then one ending each."""

    rows: tuple[tuple[int, ...], ...]
    ending_starts: tuple[int, ...]  # index of each row's first ending token
    label: int


def render(example: Example, encode: Callable[[str], list[int]], max_length: int) -> Rendered:
    """Tokens of context + " " + ending per ending, cut from the left to ``max_length``."""
    context = encode(example.context)
    rows, starts = [], []
    for ending in example.endings:
        tokens = encode(" " + ending)
        row = context + tokens
        cut = max(0, len(row) - max_length)
        rows.append(tuple(row[cut:]))
        starts.append(max(1, len(context) - cut))  # the first token has no prediction
    return Rendered(tuple(rows), tuple(starts), example.label)


@dataclass
class Score:
    """Counts over scored examples; add the counts of every rank, then read the accuracies."""

    correct: int = 0
    correct_norm: int = 0
    total: int = 0

    @property
    def acc(self) -> float:
        return self.correct / self.total if self.total else math.nan

    @property
    def acc_norm(self) -> float:
        return self.correct_norm / self.total if self.total else math.nan


def batches(rendered: Sequence[Rendered], size: int) -> Iterator[list[Rendered]]:
    """Examples in groups of ``size``, sorted by length so padding stays small."""
    order = sorted(range(len(rendered)), key=lambda i: max(len(r) for r in rendered[i].rows))
    for start in range(0, len(order), size):
        yield [rendered[i] for i in order[start : start + size]]


@torch.no_grad()
def ending_loss_tensors(
    logits_of: Callable[[torch.Tensor], torch.Tensor], group: list[Rendered], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed, mean) loss of every ending row of ``group`` as device tensors, in one forward pass
    and without a host sync (the caller reads all batches' results at once).

    Rows are right-padded: a causal model's logits at a position see only the tokens before it, so
    padding changes nothing that is scored. The cross-entropy is taken only at the ending's
    positions (gathered by indices computed on the host), not over the whole padded batch.
    """
    rows = [row for example in group for row in example.rows]
    starts = [start for example in group for start in example.ending_starts]
    length = max(len(row) for row in rows)
    tokens = np.zeros((len(rows), length), dtype=np.int64)
    row_ids, positions = [], []
    for i, (row, start) in enumerate(zip(rows, starts, strict=True)):
        tokens[i, : len(row)] = row
        row_ids.append(np.full(len(row) - start, i))
        positions.append(np.arange(start - 1, len(row) - 1))  # the logits that predict the ending
    row_ids_np, positions_np = np.concatenate(row_ids), np.concatenate(positions)
    flat = torch.from_numpy(row_ids_np * (length - 1) + positions_np).to(device, non_blocking=True)
    targets = torch.from_numpy(tokens[row_ids_np, positions_np + 1]).to(device, non_blocking=True)
    row_index = torch.from_numpy(row_ids_np).to(device, non_blocking=True)
    counts = torch.from_numpy(np.bincount(row_ids_np, minlength=len(rows))).to(device)
    logits = logits_of(torch.from_numpy(tokens[:, :-1]).to(device, non_blocking=True))
    picked = logits.reshape(-1, logits.size(-1)).index_select(0, flat).float()
    losses = F.cross_entropy(picked, targets, reduction="none")
    summed = torch.zeros(len(rows), device=device).index_add_(0, row_index, losses)
    return summed, summed / counts.clamp(min=1)


def ending_losses(
    logits_of: Callable[[torch.Tensor], torch.Tensor], group: list[Rendered], device: torch.device
) -> list[tuple[list[float], list[float]]]:
    """(summed, mean) loss of each ending of each example of ``group``, as floats."""
    summed, mean = (t.tolist() for t in ending_loss_tensors(logits_of, group, device))
    out, first = [], 0
    for example in group:
        n = len(example.rows)
        out.append((summed[first : first + n], mean[first : first + n]))
        first += n
    return out


def argmin(values: list[float]) -> int:
    return min(range(len(values)), key=values.__getitem__)


def score(
    logits_of: Callable[[torch.Tensor], torch.Tensor],
    rendered: Sequence[Rendered],
    device: torch.device,
    batch_size: int = 16,
) -> Score:
    """Counts of right answers (by summed and by mean ending loss) over ``rendered``. The GPU
    works through every batch before the host reads the losses once."""
    groups, sums, means = [], [], []
    for group in batches(rendered, batch_size):
        summed, mean = ending_loss_tensors(logits_of, group, device)
        groups.append(group)
        sums.append(summed)
        means.append(mean)
    if not groups:
        return Score()
    all_sums, all_means = torch.cat(sums).tolist(), torch.cat(means).tolist()
    result, first = Score(), 0
    for example in (example for group in groups for example in group):
        n = len(example.rows)
        result.correct += int(argmin(all_sums[first : first + n]) == example.label)
        result.correct_norm += int(argmin(all_means[first : first + n]) == example.label)
        result.total += 1
        first += n
    return result


def render_all(examples: Sequence[Example], context_length: int) -> list[Rendered]:
    """Every example tokenized once, for a model of ``context_length`` (the callback keeps these:
    tokenizing the 10,042 examples again at every pass would cost seconds of CPU time)."""
    from gptlab.data.tokenizer import encode

    return [render(e, encode, context_length + 1) for e in examples]  # + 1: inputs drop the last


def evaluate(
    model: torch.nn.Module,
    examples: Sequence[Example] | Sequence[Rendered],
    batch_size: int = 16,
    rank: int = 0,
    world_size: int = 1,
    autocast: Callable[[], Any] | None = None,
) -> tuple[Score, float]:
    """This rank's share of ``examples`` (every ``world_size``-th from ``rank``; raw or already
    rendered for this model) scored with ``model`` (a :class:`~gptlab.model.GPT`, called eagerly:
    no recompiles for every length); (counts, seconds). Add the counts of all ranks for the score
    of the whole set."""
    started = time.perf_counter()
    mine = list(examples[rank::world_size])
    if mine and isinstance(mine[0], Example):
        mine = render_all(mine, model.cfg.context_length)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with autocast() if autocast is not None else contextlib.nullcontext():
            counts = score(model.forward, mine, device, batch_size)
    finally:
        model.train(was_training)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return counts, time.perf_counter() - started
