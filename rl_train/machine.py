"""What this machine offers the trainer: the cores it may use, the CPU's name, and what
decides the float rounding of its math (a run is bit for bit repeatable only where that is
the same)."""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path
from typing import Any

# The vector extensions by which MKL and torch pick their float kernels (different kernels
# sum in a different order, so round differently: MKL limited to AVX2 on an AVX-512 CPU
# ends a short PPO run with other parameters).
VECTOR_EXTENSIONS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2",
)  # fmt: skip
# Settings that override that choice (ATEN_CPU_CAPABILITY shows in torch's own answer).
KERNEL_SETTINGS = ("MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "MKL_DEBUG_CPU_TYPE")


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask, which containers and taskset set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """/proc/cpuinfo's first value of each key, read once per process: it does not change,
    and on a many-core machine a read may be slow (empty off Linux)."""
    found: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            found.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return found


def cpu_model() -> str:
    """The processor's name, as the benchmarks report the machine they ran on."""
    return _cpuinfo().get("model name") or platform.processor() or "unknown"


def describe() -> str:
    """One line for a result or a run's record: "CPU model, N usable cores"."""
    return f"{cpu_model()}, {usable_cores()} usable cores"


def float_kernels() -> dict[str, Any]:
    """What decides which float kernels torch's CPU math runs here, hence its rounding: the
    CPU, its vector extensions, torch's dispatch level and the settings that override MKL's.
    Two machines that agree on all of it compute a run bit for bit alike."""
    import torch

    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("Features") or "").split())
    kernels: dict[str, Any] = {
        "cpu": cpu_model(),
        "vector_extensions": [f for f in VECTOR_EXTENSIONS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    kernels.update({k: os.environ[k] for k in KERNEL_SETTINGS if os.environ.get(k)})
    return kernels
