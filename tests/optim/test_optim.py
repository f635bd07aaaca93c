"""Learning-rate schedules: warm-up, then cosine, warmup-stable-decay, linear or constant."""

from itertools import pairwise

import pytest

from gptlab.optim.schedule import schedule_factor, warmup_cosine


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


def test_wsd_is_flat_then_cools_down_linearly_over_the_last_fraction():
    values = [schedule_factor("wsd", s, 10, 100, 0.0, cooldown_frac=0.2) for s in range(105)]
    assert values[9] == 1.0 and values[10:81] == [1.0] * 71
    assert values[90] == pytest.approx(0.5)  # halfway through the cool-down
    assert values[100:] == [0.0] * 5
    assert all(b < a for a, b in pairwise(values[80:101]))


def test_linear_and_constant():
    linear = [schedule_factor("linear", s, 0, 100, 0.1) for s in range(101)]
    assert (
        linear[0] == 1.0 and linear[50] == pytest.approx(0.55) and linear[100] == pytest.approx(0.1)
    )
    assert {schedule_factor("constant", s, 5, 100, 0.1) for s in range(5, 200)} == {1.0}
