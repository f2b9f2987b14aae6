"""Checkpoints and the code snapshot as files of the W&B run, for upload and `wandb sync`.

(Metrics reach W&B through the SB3 logger: rl_train/training/log_outputs.py.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from stable_baselines3.common.callbacks import BaseCallback

from rl_train.tracking.client import Tracker


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
            # Uploaded when the run finishes: the snapshot is many small files, and
            # uploading them while training starts costs online runs steps/s.
            # Checkpoints still go up as they are made.
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
