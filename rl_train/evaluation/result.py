"""EvalResult: a set of evaluation episodes and their statistics (torch-free: `rl-train
eval --policy` reports with it from a process without torch)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from rl_train.evaluation.stats import wilson_interval


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    successes: list[bool]  # empty when the env reports no is_success
    films: list[dict[str, Any]] = field(default_factory=list)  # FrameRecorder episodes
    deterministic: bool = True

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def success_rate(self) -> float | None:
        return sum(self.successes) / len(self.successes) if self.successes else None

    @property
    def success_interval(self) -> tuple[float, float] | None:
        if not self.successes:
            return None
        return wilson_interval(sum(self.successes), len(self.successes))

    @property
    def mean_return(self) -> float:
        return statistics.fmean(self.returns)

    @property
    def std_return(self) -> float:
        return statistics.pstdev(self.returns)

    @property
    def mean_length(self) -> float:
        return statistics.fmean(self.lengths)

    def score(self) -> tuple[float, float]:
        """What makes one policy better than another: success first, then return."""
        return (self.success_rate if self.success_rate is not None else -1.0, self.mean_return)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.success_interval or (None, None)
        return {
            "episodes": self.episodes,
            "deterministic": self.deterministic,
            "success_rate": self.success_rate,
            "success_ci95": [low, high] if low is not None else None,
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "mean_ep_length": self.mean_length,
        }
