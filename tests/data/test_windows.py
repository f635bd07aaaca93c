import numpy as np
import pytest
import torch

from gptlab.data.sampling import ArrayTokens, WindowDataset
from gptlab.data.windows import num_windows
from gptlab.errors import GptlabError


@pytest.mark.parametrize(
    ("tokens", "context", "stride", "expected"),
    [
        (10, 4, 4, 2),  # starts 0, 4 (window 4 reads tokens 4..7, targets up to 8)
        (9, 4, 4, 2),
        (8, 4, 4, 1),
        (10, 4, 1, 6),  # sliding window: starts 0..5
        (10, 4, 2, 3),
        (5, 4, 1, 1),  # exactly one window
        (4, 4, 1, 0),  # too short for a single target
    ],
)
def test_window_count(tokens, context, stride, expected):
    assert num_windows(tokens, context, stride) == expected


def test_window_is_shifted_by_one():
    dataset = WindowDataset(ArrayTokens(np.arange(20, dtype=np.uint16)), context_length=4)
    x, y = dataset[6]
    assert x.dtype == torch.long
    assert x.tolist() == [6, 7, 8, 9]
    assert y.tolist() == [7, 8, 9, 10]


def test_token_ids_beyond_the_vocabulary_are_refused():
    dataset = WindowDataset(ArrayTokens(np.array([1, 2, 300, 4, 5])), context_length=3, vocab_size=256)
    with pytest.raises(GptlabError, match="token id 300 >= model.vocab_size=256"):
        dataset[0]
