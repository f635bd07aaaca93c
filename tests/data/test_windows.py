import numpy as np
import pytest
import torch

from gptlab.data.windows import TokenWindows, num_windows


@pytest.mark.parametrize(
    ("tokens", "context", "stride", "expected"),
    [
        (10, 4, 4, 2),  # starts 0, 4 (4 needs tokens 4..8 plus target 9)
        (9, 4, 4, 2),  # starts 0, 4: window 4 uses tokens 4..7 and target 8
        (8, 4, 4, 1),
        (10, 4, 1, 6),  # sliding window: starts 0..5
        (10, 4, 2, 3),
        (5, 4, 1, 1),  # exactly one window
        (4, 4, 1, 0),  # too short for a single target
    ],
)
def test_window_count(tokens, context, stride, expected):
    assert num_windows(tokens, context, stride) == expected
    assert len(TokenWindows(np.arange(tokens), context, stride)) == expected


def test_windows_are_shifted_by_one_and_follow_the_stride():
    windows = TokenWindows(np.arange(20, dtype=np.uint16), context_length=4, stride=3)
    x, y = windows[2]
    assert x.dtype == torch.long
    assert x.tolist() == [6, 7, 8, 9]
    assert y.tolist() == [7, 8, 9, 10]
    last_x, last_y = windows[len(windows) - 1]
    assert last_y[-1].item() <= 19
    with pytest.raises(IndexError):
        windows[len(windows)]


def test_every_token_is_covered_once_without_overlap():
    windows = TokenWindows(np.arange(33), context_length=8)
    seen = torch.cat([windows[i][0] for i in range(len(windows))]).tolist()
    assert seen == list(range(32))
