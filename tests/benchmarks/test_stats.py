"""The speedrun track's t-test (gptlab.benchmarks.stats) against known values and scipy's."""

from __future__ import annotations

import pytest

from gptlab.benchmarks.stats import one_sided_p, student_t_cdf


@pytest.mark.parametrize(
    ("t", "df", "p"),
    [(0.0, 2, 0.5), (-2.919986, 2, 0.05), (-6.964557, 2, 0.01), (-2.353363, 3, 0.05),
     (-4.540703, 3, 0.01), (1.812461, 10, 0.95), (-1.644854, 1e6, 0.05)],
)  # fmt: skip
def test_the_t_distribution_gives_the_tables_values(t, df, p):
    assert student_t_cdf(t, df) == pytest.approx(p, abs=2e-6)


def test_the_one_sided_test_equals_scipys():
    stats = pytest.importorskip("scipy.stats")
    for values, target in [
        ([3.271, 3.279, 3.274], 3.28),
        ([3.29, 3.27, 3.281, 3.276], 3.28),
        ([1.90, 1.95, 1.92, 1.93, 1.91], 1.919),
    ]:
        expected = stats.ttest_1samp(values, target, alternative="less").pvalue
        assert one_sided_p(values, target) == pytest.approx(expected, rel=1e-9)
    assert one_sided_p([1.0, 1.0, 1.0], 2.0) == 0.0
    with pytest.raises(ValueError, match="2 seeds"):
        one_sided_p([1.0], 2.0)
