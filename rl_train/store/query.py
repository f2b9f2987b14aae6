"""Finding runs under --output-dir and reading what they hold: records, checkpoints, sizes.

Everything here reads only; it never takes a run's lock nor writes into a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISLNK
from typing import Any

from rl_train.errors import UserError
from rl_train.store import lock
from rl_train.store.checkpoint import (
    BEST_DIR,
    TEST_KEY,
    CheckpointError,
    list_checkpoints,
    load_meta,
)
from rl_train.store.layout import (
    CHECKPOINTS_DIR,
    OFFLINE_PREFIX,
    RECORD_FILE,
    TB_DIR,
    WANDB_DIR,
)
from rl_train.store.record import RunRecord
from rl_train.store.run_config import read_run_config
from rl_train.store.wandb_txlog import has_log


@dataclass
class LocalRun:
    """One run folder and its run.json."""

    path: Path
    record: RunRecord

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def state(self) -> str:
        """The recorded state, except that a 'running' run whose process is gone crashed."""
        if self.record.state == "running" and not self.training_alive():
            return "crashed"
        return self.record.state

    def in_use(self) -> lock.Holder | None:
        """Who holds the run's lock (training, sync or clean), or None."""
        return lock.holder(self.path)

    def training_alive(self) -> bool:
        holder = self.in_use()
        if holder is not None:
            return holder.purpose == "training"
        # No lock held: its trainer is gone, unless the run predates run locks or lives on
        # a filesystem without them; its pid tells then.
        return process_alive(self.record)

    @property
    def last_active(self) -> float:
        """When the run last did something: its end, else its latest session start."""
        return self.record.ended_at or self.record.session_started or self.record.started_at

    def wandb_dirs(self) -> list[Path]:
        """The run's W&B folders that hold a transaction log, oldest first."""
        return _wandb_dirs(self.path, self.record)

    def offline_dirs(self) -> list[Path]:
        return [d for d in self.wandb_dirs() if d.name.startswith(OFFLINE_PREFIX)]


def process_alive(record: RunRecord) -> bool:
    """Whether the process that recorded itself as training this run still runs."""
    import psutil

    if record.pid <= 0 or not psutil.pid_exists(record.pid):
        return False
    try:
        # A recycled pid belongs to a process started after our session began.
        return psutil.Process(record.pid).create_time() <= record.session_started + 1.0
    except psutil.Error:
        return False


def _wandb_dirs(run_dir: Path, record: RunRecord) -> list[Path]:
    # run.json stores paths relative to where training ran; the folder names are what
    # stay true when the user runs `rl-train runs` from elsewhere or moves runs/.
    names = {Path(d).name for d in record.wandb_dirs}
    wandb_root = run_dir / WANDB_DIR
    if wandb_root.is_dir():
        names.update(
            p.name
            for p in wandb_root.iterdir()
            if p.is_dir() and not p.is_symlink() and p.name.endswith(f"-{record.run_id}")
        )
    folders = [wandb_root / n for n in names if has_log(wandb_root / n)]
    # Names are <kind>-run-YYYYMMDD_HHMMSS-<id>: sorting the part after "run-" is by time.
    return sorted(folders, key=lambda p: p.name.split("run-", 1)[-1])


def load_run(path: Path) -> LocalRun | None:
    try:
        return LocalRun(path, RunRecord.load(path))
    except (OSError, ValueError, TypeError):
        return None


def find_runs(output_dir: Path) -> list[LocalRun]:
    """Every run folder (one holding a readable run.json) under output_dir, oldest first."""
    if not output_dir.is_dir():
        raise UserError(f"no runs directory {output_dir}; pass --output-dir where your runs are")
    runs = [
        run
        for path in sorted(output_dir.iterdir())
        if path.is_dir() and (path / RECORD_FILE).is_file()
        for run in [load_run(path)]
        if run is not None
    ]
    return sorted(runs, key=lambda r: r.record.started_at)


def resolve_run(output_dir: Path, spec: str) -> LocalRun:
    """A run given as a path, a run name under output_dir, or a run id."""
    for path in (Path(spec), output_dir / spec):
        if (path / RECORD_FILE).is_file():
            run = load_run(path)
            if run is None:
                raise UserError(f"{path / RECORD_FILE} is unreadable; check or remove {path}")
            return run
    matches = [run for run in find_runs(output_dir) if run.run_id == spec]
    if not matches:
        raise UserError(
            f"no run {spec!r} under {output_dir} (by id, name or path); "
            f"see `rl-train runs list --output-dir {output_dir}`"
        )
    return matches[0]


def resolve_runs(output_dir: Path, specs: list[str]) -> list[LocalRun]:
    return [resolve_run(output_dir, spec) for spec in specs]


def dir_size(path: Path) -> int:
    """Bytes of the distinct files under path: a file hard-linked twice (a checkpoint and
    its W&B copy) counts once, as `du` counts it; symlinks (wandb's latest-run, debug.log)
    hold no data and are neither followed nor counted."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # removed while we walked
            inode = (stat.st_dev, stat.st_ino)
            if not S_ISLNK(stat.st_mode) and inode not in seen:
                seen.add(inode)
                total += stat.st_size
    return total


def older_than(run: LocalRun, seconds: float, now: float | None = None) -> bool:
    return (now or time.time()) - run.last_active >= seconds


def read_config(run: LocalRun) -> dict[str, Any]:
    """The run's config.yaml as a mapping ({} when it is missing or unreadable)."""
    try:
        return read_run_config(run.path)
    except UserError:
        return {}


@dataclass
class CheckpointInfo:
    step: int
    path: Path
    size_bytes: int
    latest: bool


def checkpoints(run: LocalRun) -> list[CheckpointInfo]:
    found = list_checkpoints(run.path / CHECKPOINTS_DIR)
    return [CheckpointInfo(int(p.name), p, dir_size(p), p == found[-1]) for p in found]


@dataclass
class BestInfo:
    step: int
    path: Path
    size_bytes: int
    eval: dict[str, Any]  # the evaluation that made it the best (episodes, success_rate, ...)
    test: dict[str, Any]  # its score on the run's test episodes, once the run has finished


def best_checkpoint(run: LocalRun) -> BestInfo | None:
    """checkpoints/best, the best policy by evaluation during training, and its score."""
    path = run.path / CHECKPOINTS_DIR / BEST_DIR
    try:
        meta = load_meta(path)
        return BestInfo(
            int(meta["step"]),
            path,
            dir_size(path),
            dict(meta.get("eval") or {}),
            dict(meta.get(TEST_KEY) or {}),
        )
    except (CheckpointError, ValueError, TypeError):
        return None


def iter_tb_dirs(runs: list[LocalRun]) -> Iterator[tuple[str, Path]]:
    for run in runs:
        if (run.path / TB_DIR).is_dir():
            yield run.name, run.path / TB_DIR
