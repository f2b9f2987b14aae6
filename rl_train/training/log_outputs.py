"""Where the SB3 logger writes, besides TensorBoard: metrics.jsonl and the W&B run.

The SB3 logger is the single source of metrics: each of its dumps becomes one journal
line and one W&B row at step = global timestep, so TensorBoard, the journal and W&B see
the same keys at the same steps. No `sync_tensorboard`: it would log everything twice
and breaks step order on resume.
"""

from __future__ import annotations

from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.logger import KVWriter

from rl_train.store.journal import JournalWriter
from rl_train.tracking.client import Tracker


def scalar(value: Any) -> float | int | None:
    """A plain Python number for a number, numpy scalar, 0-d array or 0-d tensor; else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()  # numpy scalar, 0-d array or tensor: JSON and pickle want plain
    if isinstance(value, Number):
        return float(value)  # type: ignore[arg-type]
    return None


def array(value: Any) -> np.ndarray | None:
    """The values of a numpy array or torch tensor with at least one dimension."""
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return value
    if getattr(value, "ndim", 0) >= 1 and hasattr(value, "detach"):
        return value.detach().cpu().numpy()  # torch tensor
    return None


class JournalOutputFormat(KVWriter):
    """Scalars only (histograms stay in TensorBoard and W&B)."""

    def __init__(self, path: Path) -> None:
        self.journal = JournalWriter(path)

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        row = {k: v for k, v in ((k, scalar(v)) for k, v in key_values.items()) if v is not None}
        self.journal.append(step, row)

    def close(self) -> None:
        self.journal.close()


class WandbOutputFormat(KVWriter):
    """Writes each SB3 logger dump as one W&B history row at step = global timestep.

    Scalars go as they are; arrays and tensors (what SB3's TensorBoard format writes
    as histograms) become W&B histograms in the logging process.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...] | None],
        step: int = 0,
    ) -> None:
        with self.tracker.accounted():
            self._write(key_values, key_excluded, step)

    def _write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...] | None],
        step: int,
    ) -> None:
        row: dict[str, Any] = {}
        for key, value in key_values.items():
            excluded = key_excluded.get(key)
            if excluded is not None and "wandb" in excluded:
                continue
            number = scalar(value)
            if number is not None:
                row[key] = number
                continue
            values = array(value)
            if values is not None:
                row[key] = np.array(values, copy=True)  # a copy: training goes on
        if row:
            row["global_step"] = step
            self.tracker.log(row, step=step)

    def close(self) -> None:
        pass
