"""W&B logging: SB3 logger keys by global step, checkpoints and code as run files.

Metrics reach W&B through an SB3 output format (the SB3 logger stays the single
source), so TensorBoard and W&B get the same keys at the same steps. We do not use
`sync_tensorboard`: it would log everything twice and breaks step order on resume.
"""

from __future__ import annotations

import os
import shutil
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from rl_train.tracking import Tracker


def _scalar(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Number):
        return value  # type: ignore[return-value]
    if isinstance(value, np.generic) and np.ndim(value) == 0:
        return value.item()
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()  # 0-d torch tensor
    return None


def _array(value: Any) -> np.ndarray | None:
    """The values of a numpy array or torch tensor with at least one dimension."""
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return value
    if getattr(value, "ndim", 0) >= 1 and hasattr(value, "detach"):
        return value.detach().cpu().numpy()  # torch tensor
    return None


class WandbOutputFormat(KVWriter):
    """Writes each SB3 logger dump as one W&B history row at step = global timestep.

    Scalars go as they are; arrays and tensors (what SB3's TensorBoard format writes
    as histograms) become W&B histograms, so both see the same keys.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...] | None],
        step: int = 0,
    ) -> None:
        row: dict[str, Any] = {}
        for key, value in key_values.items():
            excluded = key_excluded.get(key)
            if excluded is not None and "wandb" in excluded:
                continue
            scalar = _scalar(value)
            if scalar is not None:
                row[key] = scalar
                continue
            array = _array(value)
            if array is not None:
                # The logging process bins it; a copy, as training goes on.
                row[key] = np.array(array, copy=True)
        if row:
            row["global_step"] = step
            self.tracker.log(row, step=step)

    def close(self) -> None:
        pass


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link costs no space and survives our pruning of the original."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class WandbCallback(BaseCallback):
    """Puts checkpoints and the code snapshot into the W&B run's files for `wandb sync`."""

    def __init__(self, tracker: Tracker, code_dir: Path | None = None) -> None:
        super().__init__()
        self.tracker = tracker
        self.code_dir = code_dir

    def _on_training_start(self) -> None:
        if self.code_dir is not None:
            # Uploaded when the run finishes: the snapshot is ~100 small files, and
            # uploading them while training starts costs online runs steps/s (measured
            # by benchmarks/logging_modes.py). Checkpoints still go up as they are made.
            self.save_tree(self.code_dir, "code", policy="end")

    def _on_step(self) -> bool:
        return True

    def save_tree(self, source_dir: Path, name_in_run: str, policy: str = "now") -> None:
        files_dir = self.tracker.files_dir
        if files_dir is None:
            return
        for source in sorted(p for p in source_dir.rglob("*") if p.is_file()):
            target = files_dir / name_in_run / source.relative_to(source_dir)
            _link_or_copy(source, target)
            self.tracker.save_file(target, policy=policy)

    def save_checkpoint(self, checkpoint_dir: Path, step: int) -> None:
        self.save_tree(checkpoint_dir, f"checkpoints/{step}")
