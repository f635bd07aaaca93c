import numpy as np
import pytest

from gptlab.data.sampling import WindowSampler


def sampler(**kwargs) -> WindowSampler:
    args = dict(num_tokens=1000, context_length=10, seed=3)
    args.update(kwargs)
    return WindowSampler(**args)


@pytest.mark.parametrize("mode", ["sequential", "random"])
def test_ranks_read_disjoint_windows_covering_the_epoch(mode):
    ranks = [list(sampler(mode=mode, rank=r, world_size=3)) for r in range(3)]
    assert len({len(r) for r in ranks}) == 1  # ranks stay in step
    everything = sampler(mode=mode).epoch_starts(0)
    combined = sorted(s for r in ranks for s in r)
    assert len(combined) == 3 * len(ranks[0]) == len(everything) // 3 * 3
    if mode == "sequential":
        assert len(set(combined)) == len(combined)  # disjoint
        assert set(combined) <= set(range(0, 990, 10))
    assert set(combined) <= set(everything.tolist())


def test_sequential_windows_follow_the_stride():
    starts = sampler(stride=5, shuffle=False).epoch_starts(0)
    assert starts[:3].tolist() == [0, 5, 10]
    assert starts[-1] + 10 + 1 <= 1000
    assert len(starts) == (1000 - 11) // 5 + 1


def test_order_depends_only_on_seed_and_epoch():
    a, b, c = sampler(), sampler(), sampler(seed=4)
    first_a, first_b, first_c = list(a), list(b), list(c)
    assert first_a == first_b and first_a != first_c
    a.set_epoch(7)  # Lightning's count of epochs does not move the data
    second_a, second_b = list(a), list(b)  # each pass is the next epoch
    assert second_a == second_b and second_a != first_a
    assert sorted(second_a) == sorted(first_a)


def test_random_mode_draws_random_offsets():
    starts = sampler(mode="random").epoch_starts(0)
    assert len(starts) == 100
    assert starts.max() <= 990
    assert np.any(starts % 10 != 0)


def test_resume_skips_exactly_the_windows_done():
    full = sampler()
    full.resume(epoch=2, windows_done=0)
    expected, following = list(full), list(full)
    resumed = sampler()
    resumed.resume(epoch=2, windows_done=17)
    resumed.set_epoch(3)  # Lightning may count another epoch (a run stopped by max_steps)
    assert len(resumed) == len(expected) - 17
    assert list(resumed) == expected[17:]
    assert list(resumed) == following  # the next epoch is whole again
