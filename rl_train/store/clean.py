"""`rl-train runs clean`: which runs a selection deletes, and which it keeps and why."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from rl_train.store.lock import RunLock
from rl_train.store.query import LocalRun, dir_size, older_than
from rl_train.store.sync import sync_status


@dataclass
class CleanChoice:
    run: LocalRun
    size_bytes: int
    refused: str = ""  # why it is kept although it matched


def choose_for_clean(
    runs: list[LocalRun],
    synced: bool,
    crashed: bool,
    min_age_s: float | None,
    force: bool,
) -> list[CleanChoice]:
    """Runs that match every filter given; unsynced or live ones are kept unless forced."""
    now = time.time()
    chosen = []
    for run in runs:
        if synced and sync_status(run) not in ("synced", "online"):
            continue
        if crashed and run.state != "crashed":
            continue
        if min_age_s is not None and not older_than(run, min_age_s, now):
            continue
        chosen.append(CleanChoice(run, dir_size(run.path), _keep_reason(run, force)))
    return chosen


def _keep_reason(run: LocalRun, force: bool) -> str:
    holder = run.in_use()
    if holder is not None:
        return f"in use by {holder.describe()}"  # never, not even with --force
    if run.state == "running":
        return "still running"  # never, not even with --force: training writes there
    if force:
        return ""
    status = sync_status(run)
    if status in ("synced", "online"):
        return ""
    what = "no W&B data to sync" if status == "local" else "not synced"
    return f"{what}; pass --force to delete it anyway"


CLEAN_BUSY = "stop it first, or clean it when it ends"


def delete_run(run: LocalRun) -> None:
    """Delete the run's folder, holding its lock: a resume cannot start in a half-deleted run."""
    with RunLock.acquire(run.path, "clean", CLEAN_BUSY):
        shutil.rmtree(run.path)
