"""The statistics of the speedrun track: a one-sided one-sample t-test, as modded-nanogpt judges
a record (the mean of the final validation losses over seeds is below the target, p < 0.01).

Stdlib only: Student's t distribution through the regularised incomplete beta function.
"""

from __future__ import annotations

import math
import statistics
from typing import Any


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (Lentz)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - incomplete_beta(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(log_front + a * math.log(x) + b * math.log1p(-x)) / a
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front * result


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t distribution with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t < 0 else 1.0
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t < 0 else 1.0 - tail


def one_sided_p(values: list[float], target: float) -> float:
    """p-value of "the mean of ``values`` is below ``target``" (one-sample t-test, H0: mean >=
    target); needs two values at least."""
    if len(values) < 2:
        raise ValueError("a p-value needs 2 seeds at least")
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if sd == 0:
        return 0.0 if mean < target else 1.0
    t = (mean - target) / (sd / math.sqrt(len(values)))
    return student_t_cdf(t, len(values) - 1)


def verdict(
    name: str, steps: int, runs: list[dict], target: float, base_time: float, alpha: float
) -> dict[str, Any]:
    """The row of one candidate and budget: its runs' mean and spread, the p-value of its mean
    being below ``target``, its time against the baseline's (``base_time``), passed or not."""
    runs = [r for r in runs if r.get("val_loss") is not None]  # a run stopped early has none
    if not runs:
        return {"name": name, "steps": steps, "seeds": 0, "val_loss_mean": None, "passed": None}
    losses = [r["val_loss"] for r in runs]
    times = [r["training_s"] for r in runs]
    p = one_sided_p(losses, target) if len(losses) > 1 else None
    mean_time = statistics.fmean(times)
    return {
        "name": name,
        "steps": steps,
        "seeds": len(runs),
        "val_loss_mean": round(statistics.fmean(losses), 4),
        "val_loss_sd": round(statistics.stdev(losses), 4) if len(losses) > 1 else None,
        "target": round(target, 4),
        "p_value": None if p is None else float(f"{p:.3g}"),
        "training_s": round(mean_time, 1),
        "time_ratio": round(mean_time / base_time, 3),
        "tokens_per_s": round(statistics.fmean(r["tokens_per_s"] or 0 for r in runs)),
        "passed": None if p is None else p < alpha,
    }
