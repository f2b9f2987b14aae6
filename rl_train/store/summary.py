"""What `rl-train runs list` and `runs show` report of a run, as plain data (`--json`)."""

from __future__ import annotations

from typing import Any

from rl_train.store.progress import Progress, read_progress
from rl_train.store.query import LocalRun, dir_size
from rl_train.store.sync import read_sync_record, sync_status


def run_summary(run: LocalRun) -> dict[str, Any]:
    """What `list` shows of a run, as plain data (also `list --json`)."""
    record = run.record
    state = run.state
    progress = read_progress(run, state)
    status = sync_status(run)
    return {
        "run_id": run.run_id,
        "name": run.name,
        "path": str(run.path),
        "env_id": record.env_id,
        "state": state,
        "recorded_state": record.state,
        "steps": progress.steps,
        "total_timesteps": record.total_timesteps,
        "success_rate": _success(run, progress),
        "rollout_success_rate": progress.rollout_success_rate,
        "eval_success_rate": progress.eval_success_rate,
        "validation_success_rate": progress.validation_success_rate,
        "test": run.record.test,
        "steps_per_s": progress.steps_per_s,
        "eta_s": progress.eta_s,
        "latest_checkpoint": progress.latest_checkpoint,
        "progress_updated_at": progress.updated_at,
        "size_bytes": dir_size(run.path),
        "sync_status": status,
        "synced": status in ("synced", "online"),
        "synced_at": read_sync_record(run).get("synced_at"),
        "wandb_mode": record.wandb_mode,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "wandb_dirs": [str(d) for d in run.wandb_dirs()],
    }


def _success(run: LocalRun, progress: Progress) -> float | None:
    # An ended run: its final policy's test when there was one, else its last rollouts'.
    # A running one (or one whose process died): its newest rollouts', as its progress
    # line shows.
    if run.record.state != "running" and run.record.success_rate is not None:
        return run.record.success_rate
    return progress.rollout_success_rate
