"""Whether a resume computes the rest of a run as the run that was never stopped would: the
same update (--learner, --update-threads), the same libraries and the same float kernels.
Each check returns why not, or None; a resume that fails one says so on its first line."""

from __future__ import annotations

from typing import Any

from rl_train.config.resume import flag
from rl_train.config.train_config import LEGACY_LEARNER, TrainConfig
from rl_train.machine import float_kernels
from rl_train.store.record import library_versions

# The libraries whose version can change a run's numbers (wandb only records them).
COMPUTING_LIBRARIES = ("rl-train", "stable-baselines3", "torch", "gymnasium", "pybullet", "numpy")
# machine.float_kernels()'s fields as a message names them, in the order they are compared
# (the MKL settings after them).
KERNEL_LABELS = {
    "cpu": "CPU",
    "vector_extensions": "vector extensions",
    "torch_cpu_capability": "torch CPU capability",
}


def why_not_exact(meta: dict[str, Any], config: TrainConfig) -> str | None:
    """The first reason the run resumed from a checkpoint with this meta, by this process,
    does not continue bit for bit, or None."""
    return (
        other_learner(meta.get("config", {}), config)
        or other_versions(meta.get("versions"))
        or other_float_kernels(meta.get("machine"))
    )


def other_learner(saved: dict[str, Any], config: TrainConfig) -> str | None:
    """Another --learner or --update-threads (threads split a matrix product's sums
    differently)."""
    saved = LEGACY_LEARNER | saved
    for key in LEGACY_LEARNER:
        if saved[key] != getattr(config, key):
            return (
                f"{flag(key)} {getattr(config, key)} where the run had {saved[key]} "
                "(the update's float rounding differs)"
            )
    return None


def other_versions(saved: dict[str, str] | None) -> str | None:
    """A computing library of another version than the checkpoint's (a checkpoint that
    names none is taken at its word)."""
    here = library_versions()
    for name in COMPUTING_LIBRARIES:
        before, now = (saved or {}).get(name), here.get(name)
        if before and now and before != now:
            return (
                f"{name} {now} where the checkpoint was written with {before} "
                "(another version may compute other numbers)"
            )
    return None


def other_float_kernels(saved: dict[str, Any] | None) -> str | None:
    """Another CPU, other vector extensions or another MKL setting than the checkpoint's:
    MKL and torch pick their float kernels by these, and other kernels round differently.
    A checkpoint from before rl-train recorded them cannot be compared."""
    if not saved:
        return None
    here = float_kernels()
    for key in [*KERNEL_LABELS, *sorted((set(saved) | set(here)) - set(KERNEL_LABELS))]:
        before, now = saved.get(key), here.get(key)
        if before != now:
            return (
                f"{_kernel_text(key, now)} where the checkpoint was written with "
                f"{_kernel_text(key, before)} (MKL and torch pick their float kernels by it, "
                "and other kernels round differently)"
            )
    return None


def _kernel_text(key: str, value: Any) -> str:
    if key == "vector_extensions":
        value = " ".join(value or []) or "(none)"
    if key in KERNEL_LABELS:
        return f"{KERNEL_LABELS[key]} {value}"
    return f"{key}={value}" if value else f"{key} unset"  # an MKL setting
