"""Checkpoints and the code snapshot as files of the W&B run, for upload and `wandb sync`.

(Metrics reach W&B through the SB3 logger: rl_train/training/log_outputs.py.) Not an SB3
callback: it acts when a checkpoint or a best policy is saved (their listeners) and when
training starts and ends, so W&B adds nothing to the training loop's steps.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rl_train.store.checkpoint import BEST_DIR, list_checkpoints
from rl_train.store.layout import CHECKPOINTS_DIR, CODE_DIR, WANDB_DIR
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


class RunFiles:
    """Puts checkpoints and the code snapshot into the W&B run's files for upload.

    Which checkpoints (--wandb-checkpoints): "all" written; "kept", the ones on disk, the
    best one included (the W&B folders follow checkpoints/ as it is pruned, in every
    session's folder of the run); "final", only the last one; "none". Run files rather
    than W&B artifacts: files/ is inside the run dir and holds hard links (no extra
    space), `wandb sync` uploads the files that are there and skips removed ones, whereas
    an offline artifact version is copied into wandb's staging cache outside the run and
    every version logged is uploaded. Online, "kept" uploads at the run's end what is kept then.
    """

    def __init__(
        self,
        tracker: Tracker,
        code_dir: Path | None,
        run_dir: Path,
        checkpoints: str = "kept",
    ) -> None:
        self.tracker = tracker
        self.code_dir = code_dir
        self.run_dir = run_dir
        self.checkpoints = checkpoints

    def save_code(self) -> None:
        """As training starts."""
        if self.code_dir is not None:
            # Uploaded when the run finishes: the snapshot is many small files, and
            # uploading them while training starts costs online runs steps/s.
            with self.tracker.accounted():
                self.save_tree(self.code_dir, CODE_DIR, policy="end")

    def save_tree(self, source_dir: Path, name_in_run: str, policy: str = "now") -> None:
        files_dir = self.tracker.files_dir
        if files_dir is None:
            return
        targets = []
        for source in sorted(p for p in source_dir.rglob("*") if p.is_file()):
            target = files_dir / name_in_run / source.relative_to(source_dir)
            _link_or_copy(source, target)
            targets.append(target)
        self.tracker.save_files(targets, policy=policy)

    def save_checkpoint(self, checkpoint_dir: Path, step: int) -> None:
        """After each checkpoint is written (and older ones pruned)."""
        with self.tracker.accounted():
            if self.checkpoints == "all":
                self.save_tree(checkpoint_dir, f"{CHECKPOINTS_DIR}/{step}")
            elif self.checkpoints == "kept":
                # Online, an upload now would leave pruned checkpoints on the server.
                policy = "end" if self.tracker.mode == "online" else "now"
                self.save_tree(checkpoint_dir, f"{CHECKPOINTS_DIR}/{step}", policy=policy)
                self.drop_all_but(self._on_disk())

    def save_best(self, best_dir: Path, step: int) -> None:
        """After a new best checkpoint: its copy replaces the old best's, in every folder."""
        if self.checkpoints not in ("all", "kept"):
            return
        with self.tracker.accounted():
            for copies in self._copy_dirs():
                shutil.rmtree(copies / BEST_DIR, ignore_errors=True)
            policy = "end" if self.tracker.mode == "online" else "now"
            self.save_tree(best_dir, f"{CHECKPOINTS_DIR}/{BEST_DIR}", policy=policy)

    def finish_checkpoints(self) -> None:
        """Once the session's last checkpoint is saved."""
        with self.tracker.accounted():
            self._finish_checkpoints()

    def _finish_checkpoints(self) -> None:
        if self.checkpoints == "kept":
            self.drop_all_but(self._on_disk())
        elif self.checkpoints == "final":
            on_disk = list_checkpoints(self.run_dir / CHECKPOINTS_DIR)
            if on_disk:
                self.save_tree(on_disk[-1], f"{CHECKPOINTS_DIR}/{on_disk[-1].name}")
            self.drop_all_but({on_disk[-1].name} if on_disk else set())
        elif self.checkpoints == "none":
            self.drop_all_but(set())

    def _on_disk(self) -> set[str]:
        root = self.run_dir / CHECKPOINTS_DIR
        best = {BEST_DIR} if (root / BEST_DIR).is_dir() else set()
        return {path.name for path in list_checkpoints(root)} | best

    def _copy_dirs(self) -> list[Path]:
        """files/checkpoints of every W&B folder of the run (each session has one)."""
        wandb_root = self.run_dir / WANDB_DIR
        if not wandb_root.is_dir():
            return []
        folders = wandb_root.glob(f"*-{self.tracker.run_id}")
        copies = [folder / "files" / CHECKPOINTS_DIR for folder in folders]
        return [c for c in copies if not c.parent.parent.is_symlink() and c.is_dir()]

    def drop_all_but(self, names: set[str]) -> None:
        """Remove the W&B copies of other checkpoints from every W&B folder of the run."""
        for copies in self._copy_dirs():
            for copy in copies.iterdir():
                if copy.name not in names:
                    shutil.rmtree(copy, ignore_errors=True)
