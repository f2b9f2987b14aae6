"""The machine a result was measured on: what it is, how loaded, how steady its speed."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

HOST_LOOP = 3_000_000


def describe() -> dict[str, Any]:
    """CPU, cores, memory, Python, platform and the versions of the libraries a run uses."""
    from rl_train.machine import cpu_model, usable_cores
    from rl_train.store.record import library_versions

    return {
        "cpu_model": cpu_model(),
        "nproc": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_bytes": memory_total(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": library_versions(),
    }


def summary_line() -> str:
    """One line for a result's header: "CPU model, N usable cores"."""
    from rl_train.machine import describe as describe_machine

    return describe_machine()


def memory_total() -> int | None:
    try:
        import psutil

        return psutil.virtual_memory().total
    except ImportError:
        return None


def load_average() -> float | None:
    """The 1-minute load average (other work on the machine), None where there is none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def load_text() -> str:
    """The three load averages as text ("?" where there are none)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def host_speed(samples: int = 10, every_s: float = 2.0) -> dict[str, Any]:
    """The CPU time of a fixed Python loop, a few times: how much the machine's own
    speed moves (a shared VM's does), which no pairing of runs removes."""
    times = []
    for index in range(samples):
        started, total = time.process_time(), 0
        for i in range(HOST_LOOP):
            total += i * i
        times.append(time.process_time() - started)
        if index + 1 < samples:
            time.sleep(every_s)
    return {
        "loop": HOST_LOOP,
        "samples": samples,
        "every_s": every_s,
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
    }
