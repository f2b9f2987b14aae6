"""A process tree's memory and CPU, sampled from outside while it runs (psutil, /proc)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any


def process_tree(pid: int) -> list[Any]:
    """The process and all its descendants (psutil.Process), [] once it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss(processes: list[Any]) -> int:
    """Summed RSS of the processes (shared pages count once per process)."""
    import psutil

    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def cpu_seconds(process: Any) -> float | None:
    """User + system CPU seconds of one process, None once it is gone."""
    try:
        times = process.cpu_times()
        return times.user + times.system
    except Exception:
        return None


def kill_tree(pid: int) -> None:
    import psutil

    for process in reversed(process_tree(pid)):
        try:
            process.kill()
        except psutil.Error:
            pass


def timeslices(pid: int) -> int:
    """Times the process's threads were put on a CPU (/proc/PID/task/*/schedstat): one per
    wake-up or preemption, each of which displaces whatever ran there."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[2])
        except (OSError, IndexError, ValueError):
            continue
    return total


class TreeMemory:
    """Peak summed PSS and RSS of a process and all its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the live processes of the tree."""
        return sum(cpu_seconds(p) or 0.0 for p in process_tree(self.pid))

    def _sample(self) -> None:
        import psutil

        processes = process_tree(self.pid)
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


class CpuTimeline:
    """Cumulative CPU seconds (and times put on a CPU) of each kind of process of a run,
    sampled as it runs, so that what each kind used over any span (the steady state's,
    from run.json) can be read off afterwards, linear between samples.

    Why: the wall-clock cost of W&B on this VM cannot be told from the machine's own speed,
    which moves by a third within seconds (docs/logging-modes.md). CPU seconds of two
    processes over the same seconds can: both see the same machine."""

    KINDS = ("trainer", "workers", "logging", "core", "server")

    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, float], dict[str, int]]] = []
        self._last: dict[int, tuple[str, float, int]] = {}  # pid -> kind, CPU s, switches

    @staticmethod
    def kind(process: Any, root_pid: int) -> str:
        if process.pid == root_pid:
            return "trainer"
        if process.name().startswith("wandb-core"):
            return "core"
        if "rl_train.tracking.process" in process.cmdline():
            return "logging"
        return "workers"  # the env workers, their forkserver, multiprocessing's tracker

    def sample(self, processes: list[Any], root_pid: int, server: Any = None) -> None:
        import psutil

        for process, kind in [
            *((p, None) for p in processes),
            *([(server, "server")] if server is not None else []),
        ]:
            try:
                times = process.cpu_times()
                if kind is None:
                    known = self._last.get(process.pid)
                    kind = known[0] if known else self.kind(process, root_pid)
            except psutil.Error:
                continue
            cpu = times.user + times.system
            self._last[process.pid] = (kind, cpu, timeslices(process.pid))
        cpu_by_kind = dict.fromkeys(self.KINDS, 0.0)
        switches_by_kind = dict.fromkeys(self.KINDS, 0)
        for kind, cpu, switches in self._last.values():
            cpu_by_kind[kind] += cpu
            switches_by_kind[kind] += switches
        self.samples.append((time.time(), cpu_by_kind, switches_by_kind))

    def total(self, kind: str) -> float | None:
        """CPU seconds of that kind over the whole run, as last seen; None if none ran."""
        if not any(k == kind for k, _, _ in self._last.values()):
            return None
        return self.samples[-1][1][kind]

    def _at(self, when: float, index: int, kind: str) -> float:
        times = [sample[0] for sample in self.samples]
        after = next(i for i, t in enumerate(times) if t >= when)
        if after == 0:
            return float(self.samples[0][index][kind])
        (t1, *v1), (t2, *v2) = self.samples[after - 1], self.samples[after]
        a, b = v1[index - 1][kind], v2[index - 1][kind]
        return a + (b - a) * (when - t1) / (t2 - t1)

    def over(self, start: float, end: float) -> dict[str, float] | None:
        """CPU seconds of each kind, and "<kind>_switches" (timeslices), between two epoch
        times; None unless samples lie on both sides of the span."""
        if len(self.samples) < 2 or not self.samples[0][0] <= start < end <= self.samples[-1][0]:
            return None
        spans: dict[str, float] = {}
        for kind in self.KINDS:
            spans[kind] = self._at(end, 1, kind) - self._at(start, 1, kind)
            spans[f"{kind}_switches"] = self._at(end, 2, kind) - self._at(start, 2, kind)
        return spans
