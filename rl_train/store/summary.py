"""What `rl-train runs list` and `runs show` report of a run, as plain data (`--json`)."""

from __future__ import annotations

from typing import Any

from rl_train.store.query import LocalRun, dir_size
from rl_train.store.record import RunRecord
from rl_train.store.sync import read_sync_record, sync_status


def run_summary(run: LocalRun) -> dict[str, Any]:
    """What `list` shows of a run, as plain data (also `list --json`)."""
    record = run.record
    status = sync_status(run)
    return {
        "run_id": run.run_id,
        "name": run.name,
        "path": str(run.path),
        "env_id": record.env_id,
        "state": run.state,
        "recorded_state": record.state,
        "steps": record.steps,
        "total_timesteps": record.total_timesteps,
        "success_rate": _last_success(record),
        "size_bytes": dir_size(run.path),
        "sync_status": status,
        "synced": status in ("synced", "online"),
        "synced_at": read_sync_record(run).get("synced_at"),
        "wandb_mode": record.wandb_mode,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "wandb_dirs": [str(d) for d in run.wandb_dirs()],
    }


def _last_success(record: RunRecord) -> float | None:
    # The final evaluation when there was one, else the last rollouts' success rate.
    if record.success_rate is not None:
        return record.success_rate
    return record.rollout_success_rate
