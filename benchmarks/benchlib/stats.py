"""Medians, their intervals, ratios of paired runs, and verdicts against a target.

A shared VM's speed moves between runs, so the benchmarks compare runs made at the same
moment (paired) and give a distribution-free interval of the median, never a mean.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

CONFIDENCE = 0.95
MET = "met"
NOT_MET = "NOT met"
NOT_SHOWN = "median within it, not shown: the interval reaches past it"

# (median, min, max, n, interval of the median or None)
Spread = tuple[float, float, float, int, tuple[float, float] | None]


def median_ci(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """A distribution-free confidence interval of the median: the k-th smallest and k-th
    largest of n values, k the largest with P(Binomial(n, 1/2) < k) <= (1 - confidence)/2
    (it covers at least `confidence`). None below 6 values, where no such k exists."""
    ordered, n = sorted(values), len(values)
    tail, k, below = (1.0 - confidence) / 2.0, 0, 0.0
    while True:
        below += math.comb(n, k) / 2**n  # P(X <= k)
        if below > tail:
            break
        k += 1
    if k == 0:
        return None
    return ordered[k - 1], ordered[n - k]


def median_min_max(values: list[float | None]) -> tuple[float, float, float] | None:
    """(median, min, max) of the values that are not None; None if there are none."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return statistics.median(known), min(known), max(known)


def with_interval(values: list[float]) -> dict[str, Any]:
    """{"median", "ci95", "n"}: the median (nan without values) and its interval."""
    median = statistics.median(values) if values else float("nan")
    return {"median": median, "ci95": median_ci(values) if values else None, "n": len(values)}


def spread(values: list[float]) -> Spread | None:
    """(median, min, max, n, interval of the median), None without values."""
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values), median_ci(values)


def ratios(pairs: list[tuple[float | None, float | None]]) -> list[float]:
    """a / b of each pair where both are known and non-zero."""
    return [a / b for a, b in pairs if a and b]


def judge(median: float, interval: tuple[float, float] | None, limit: float) -> str:
    """A cost against the most it may be: met only when its whole interval is within it."""
    if median > limit:
        return NOT_MET
    if interval is None or interval[1] > limit:
        return NOT_SHOWN
    return MET


# -- runs paired with reference runs of the same moment ------------------------------------


def drift_reference(run: dict[str, Any], reference: list[dict[str, Any]], key: str) -> float | None:
    """The reference runs' value at `run`'s place in the sequence ("order"): linear between
    the reference runs just before and just after it (one side only at the ends). With modes
    rotating (A B C, B C A, C A B) a mode follows the reference in two repetitions of three,
    so pairing within a repetition gives a machine that speeds up or slows down over the
    minutes a direction; interpolating in time cancels a steady drift whatever the order."""
    known = sorted((r["order"], r[key]) for r in reference if r.get(key) is not None)
    before = [(o, v) for o, v in known if o < run["order"]]
    after = [(o, v) for o, v in known if o > run["order"]]
    if before and after:
        (o1, v1), (o2, v2) = before[-1], after[0]
        return v1 + (v2 - v1) * (run["order"] - o1) / (o2 - o1)
    if before or after:
        return (before[-1] if before else after[0])[1]
    return None


def pairs(
    runs: list[dict[str, Any]], reference: list[dict[str, Any]], key: str
) -> list[tuple[float, float | None]]:
    """(each run's value, the reference's to compare it with) for the runs that have the
    value: the reference's at the same moment when every run knows its order, else that of
    its repetition ("rep")."""
    if all("order" in run for run in [*runs, *reference]):
        found = [(run.get(key), drift_reference(run, reference, key)) for run in runs]
    else:
        by_rep = {run.get("rep"): run.get(key) for run in reference}
        found = [(run.get(key), by_rep.get(run.get("rep"))) for run in runs]
    return [(value, ref) for value, ref in found if value is not None]


def paired_ratio(
    runs: list[dict[str, Any]], reference: list[dict[str, Any]], key: str
) -> Spread | None:
    """The spread of each run's value over the reference's of the same moment.

    A run and its neighbour see nearly the same machine, so their ratio carries far less of
    the VM's drift between repetitions than the ratio of two medians does."""
    return spread([value / ref for value, ref in pairs(runs, reference, key) if ref])


def paired_difference(
    runs: list[dict[str, Any]], reference: list[dict[str, Any]], key: str
) -> tuple[float, int] | None:
    """(median, n) of each run's value minus the reference's (paired as paired_ratio)."""
    differences = [value - ref for value, ref in pairs(runs, reference, key) if ref is not None]
    return (statistics.median(differences), len(differences)) if differences else None
