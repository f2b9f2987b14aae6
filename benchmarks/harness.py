"""What the benchmark scripts share: where results go, the real `rl-train` command, the
environment its processes run in, and the machine they ran on.

Light on purpose (standard library and rl-train's light modules): a benchmark's own
process must not bring torch along, or it would compete with what it measures.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# A benchmark decides the W&B mode and server of each run itself.
WANDB_VARS = ("WANDB_MODE", "WANDB_BASE_URL", "WANDB_API_KEY", "WANDB_DIR")
CONFIDENCE = 0.95


def child_env(one_thread: bool = False) -> dict[str, str]:
    """The environment of a measured process: this checkout importable, wandb quiet and
    unconfigured, and (one_thread) numerical libraries held to one thread."""
    env = dict(os.environ)
    for key in WANDB_VARS:
        env.pop(key, None)
    env["WANDB_SILENT"] = "true"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if one_thread:
        env.update(dict.fromkeys(THREAD_VARS, "1"))
    return env


def rl_train_command(*args: str) -> list[str]:
    """The real command line, as `rl-train ARGS` runs it, in this interpreter."""
    return [sys.executable, "-m", "rl_train.cli", *args]


def shipped_n_steps(env_id: str = "default") -> int:
    """n_steps per env of the shipped hyperparameters (rl_train/config/ppo.yml)."""
    from rl_train.config import hyperparams

    return int(hyperparams.value(hyperparams.shipped(env_id), "n_steps"))


class TreeMemory:
    """Peak summed PSS and RSS of a process and all its descendants, sampled."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _processes(self) -> list:
        import psutil

        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu_seconds(self) -> float:
        """User + system CPU time of the live processes of the tree."""
        import psutil

        total = 0.0
        for process in self._processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def _sample(self) -> None:
        import psutil

        processes = self._processes()
        pss = rss = 0
        for process in processes:
            try:
                info = process.memory_full_info()
            except psutil.Error:
                continue
            pss += getattr(info, "pss", info.rss)
            rss += info.rss
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, len(processes))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


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
