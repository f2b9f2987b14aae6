"""Success rates: the training rollouts', and an evaluation's with its confidence interval."""

from __future__ import annotations

import math
from typing import Any

Z_95 = 1.959964  # two-sided 95% of the normal distribution


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a success rate: unlike the normal approximation it
    stays inside [0, 1] and means something at 0 or n successes out of n."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)  # exact, not 1 - 1e-16
    return low, high


def rollout_success_rate(model: Any) -> float | None:
    """The success rate of the last episodes training saw (SB3's ep_success_buffer)."""
    buffer = getattr(model, "ep_success_buffer", None)
    return sum(buffer) / len(buffer) if buffer else None
