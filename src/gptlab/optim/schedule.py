"""Learning-rate schedules: a multiplier of the peak rate at each optimizer step (0-based).

Every schedule warms up linearly over ``warmup_steps`` to 1, then:

- ``cosine``: a half cosine down to ``min_lr_ratio`` at ``total_steps`` (GPT-2 as nanoGPT/llm.c);
- ``wsd``: warm-up, stable at 1, then a linear decay to ``min_lr_ratio`` over the last
  ``cooldown_frac`` of ``total_steps`` ("trapezoid"; a run can be continued from before the decay);
- ``linear``: a straight line down to ``min_lr_ratio`` at ``total_steps``;
- ``constant``: stays at 1.

After ``total_steps`` each stays at its last value.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd", "linear", "constant")


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float) -> float:
    return schedule_factor("cosine", step, warmup_steps, total_steps, min_lr_ratio)


def schedule_factor(
    name: str,
    step: int,
    warmup_steps: int,
    total_steps: int,
    min_lr_ratio: float,
    cooldown_frac: float = 0.2,
) -> float:
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if name == "constant":
        return 1.0
    step = min(step, total_steps)
    if name == "wsd":
        decay_start = total_steps - max(1, round(cooldown_frac * total_steps))
        if step <= decay_start:
            return 1.0
        progress = (step - decay_start) / max(1, total_steps - decay_start)
        return 1.0 - (1.0 - min_lr_ratio) * progress
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    if name == "linear":
        return 1.0 - (1.0 - min_lr_ratio) * progress
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
