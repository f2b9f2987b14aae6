"""Curves across runs for `rl-train runs plot`: smoothed, against steps or wall time, and
runs grouped by a config value into a mean with a 95% band (seeds of one setting).

A group's runs rarely log at the same steps (other --n-envs, a resume, other rollout
sizes): each run's curve is interpolated onto the steps all of them cover, and the band
is the t-interval of the mean across runs at each of those steps.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rl_train.store.history import History

ELAPSED = "time/time_elapsed"  # SB3's wall seconds, counted from 0 in each session
# Two-sided 97.5% t quantiles for 1..30 degrees of freedom (no scipy needed for a band).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip

Curve = tuple[list[float], list[float]]  # x, y
Band = tuple[list[float], list[float], list[float], list[float]]  # x, mean, low, high


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing mean over `window` points (fewer at the start): `--smooth N`."""
    if window <= 1:
        return list(values)
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def wall_times(history: History) -> dict[int, float]:
    """Training wall seconds at each step that logged them, summed over sessions (SB3's
    time/time_elapsed restarts at 0 when a run resumes)."""
    seconds, before, last = {}, 0.0, 0.0
    for row in history.rows:
        value = row.get(ELAPSED)
        if isinstance(value, (int, float)):
            if value < last:  # a new session
                before += last
            last = float(value)
            seconds[row["_step"]] = before + last
    return seconds


def curve(history: History, key: str, x: str = "step", window: int = 1) -> Curve:
    """A run's curve of `key` against steps or wall seconds, smoothed."""
    steps, values = history.series(key)
    if x == "time":
        wall = wall_times(history)
        points = [(wall[s], v) for s, v in zip(steps, values, strict=True) if s in wall]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
    else:
        xs, ys = [float(s) for s in steps], values
    return xs, smooth(ys, window)


def group_band(curves: list[Curve], points: int = 200) -> Band:
    """Mean and 95% interval across runs, on the x range every run covers."""
    start = max(c[0][0] for c in curves)
    stop = min(c[0][-1] for c in curves)
    if len(curves) == 1 or stop <= start:
        xs, ys = curves[0]
        return list(xs), list(ys), list(ys), list(ys)
    grid = np.linspace(start, stop, points)
    stacked = np.stack([np.interp(grid, c[0], c[1]) for c in curves])
    mean = stacked.mean(axis=0)
    n = len(curves)
    half = t_quantile(n - 1) * stacked.std(axis=0, ddof=1) / math.sqrt(n)
    return grid.tolist(), mean.tolist(), (mean - half).tolist(), (mean + half).tolist()


def t_quantile(dof: int) -> float:
    return T975[dof - 1] if dof <= len(T975) else 1.96


def config_value(config: dict[str, Any], key: str) -> Any:
    """A config value by dotted key (`hyperparams.learning_rate`), or None."""
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
