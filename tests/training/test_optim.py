from itertools import pairwise

import pytest

from gptlab.training.schedule import warmup_cosine


def lrs(total=100, warmup=10, floor=0.1):
    return [warmup_cosine(s, warmup, total, floor) for s in range(total + 5)]


def test_linear_warmup_reaches_peak():
    values = lrs()
    assert values[0] == pytest.approx(0.1)
    assert all(b > a for a, b in pairwise(values[:10]))
    assert values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0)


def test_cosine_decay_to_the_floor_then_flat():
    values = lrs()
    decay = values[10:100]
    assert all(b <= a for a, b in pairwise(decay))
    assert values[55] == pytest.approx(0.55, abs=0.01)  # halfway: (1 + 0.1) / 2
    assert values[100:] == [pytest.approx(0.1)] * 5


def test_no_warmup_starts_at_peak():
    assert warmup_cosine(0, 0, 10, 0.0) == pytest.approx(1.0)
