"""data.batch_size_schedule: each size's share of the steps, the micro-batches it cuts from the
window order, and where a resumed run continues."""

from __future__ import annotations

import pytest

from gptlab.data.batch_schedule import BatchSizeSchedule, ScheduledBatches, check_sizes
from gptlab.data.sampling import WindowSampler
from gptlab.errors import ConfigError


def test_each_size_trains_an_equal_share_of_the_steps():
    schedule = BatchSizeSchedule((1, 2, 3), total_steps=9)
    assert [schedule.size_at(s) for s in range(11)] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]
    assert schedule.sequences_through(9) == 1 * 3 + 2 * 3 + 3 * 3
    assert schedule.sequences_through(4) == 1 * 3 + 2
    assert schedule.sequences_through(11) == 18 + 2 * 3  # a run extended by a resume: the last size
    assert schedule.mean_size() == 2
    uneven = BatchSizeSchedule((1, 2, 3), total_steps=10)  # phases of 4, 3 and 3 steps
    assert [uneven.size_at(s) for s in range(10)] == [1] * 4 + [2] * 3 + [3] * 3
    accumulated = BatchSizeSchedule((1, 2), total_steps=4, accumulation=2)
    assert [accumulated.size_of_micro_batch(i) for i in range(8)] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert accumulated.sequences_through(4) == 12


def windows() -> WindowSampler:
    return WindowSampler(num_tokens=11 * 8 + 1, context_length=8, seed=3)  # 11 windows an epoch


def test_batches_follow_the_schedule_over_epochs_and_resume_where_they_stopped():
    schedule = BatchSizeSchedule((2, 3, 4), total_steps=6)
    batches = ScheduledBatches(windows(), schedule)
    epochs = [list(batches) for _ in range(3)]
    sizes = [[len(b) for b in epoch] for epoch in epochs]
    # 11 windows: 2+2+3+3 (the last window dropped); then 4+4 (3 dropped); then 4+4
    assert sizes == [[2, 2, 3, 3], [4, 4], [4, 4]]
    order = windows()
    assert [w for b in epochs[0] for w in b] == list(order)[:10]  # the fixed size's order, cut
    flat = [b for epoch in epochs for b in epoch]
    for done in range(len(flat)):
        epoch, read = schedule.position_after(done, windows().epoch_length())
        sampler = windows()
        sampler.resume(epoch, read)
        resumed = ScheduledBatches(sampler, schedule, done)
        continued = [b for _ in range(3) for b in resumed]
        assert continued[: len(flat) - done] == flat[done:], done


def test_the_coming_epochs_length_counts_the_batches_it_serves():
    batches = ScheduledBatches(windows(), BatchSizeSchedule((2, 3, 4), total_steps=6))
    assert len(batches) == 4
    list(batches)
    assert len(batches) == 2


@pytest.mark.parametrize("sizes", [[], [0, 2], [2, "x"], "16", [True]])
def test_bad_schedules_name_the_key(sizes):
    with pytest.raises(ConfigError, match="data.batch_size_schedule"):
        check_sizes(sizes)
