"""How far a run is: steps, steps/s, ETA, success and the newest checkpoint, from the files
the run writes anyway.

The trainer records its steps in run.json only when a session ends; while it trains, the
journal's newest rows (one per rollout) are the truth. Reading them costs the trainer
nothing: no signal, no socket, only the journal's tail.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from rl_train.store import journal
from rl_train.store.checkpoint import list_checkpoints
from rl_train.store.layout import CHECKPOINTS_DIR, JOURNAL_FILE
from rl_train.store.query import LocalRun

# The journal's keys (SB3's logger names them; the evaluation callback adds eval/).
STEPS_PER_S = "time/fps"  # SB3: steps of this session / its wall time, updates included
ROLLOUT_SUCCESS = "rollout/success_rate"
EVAL_SUCCESS = "eval/success_rate"


@dataclass
class Progress:
    steps: int
    total_timesteps: int
    steps_per_s: float | None
    eta_s: float | None  # from now; None unless the run is running
    rollout_success_rate: float | None
    eval_success_rate: float | None  # the newest evaluation's; an ended run: its test
    latest_checkpoint: int | None
    updated_at: float | None  # when the journal was last written
    validation_success_rate: float | None = None  # the newest evaluation during training

    @property
    def fraction(self) -> float:
        return min(1.0, self.steps / self.total_timesteps) if self.total_timesteps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def newest_values(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key's newest value: a dump holds only what was recorded since the last one (the
    final dump after learning has the train/ keys alone)."""
    newest: dict[str, Any] = {}
    for row in rows:
        newest.update(row)
    if rows:
        newest["_step"] = max(int(row.get("_step", 0)) for row in rows)
    return newest


def latest_checkpoint(run: LocalRun) -> int | None:
    found = list_checkpoints(run.path / CHECKPOINTS_DIR)
    return int(found[-1].name) if found else None


def journal_mtime(run: LocalRun) -> float | None:
    try:
        return os.stat(run.path / JOURNAL_FILE).st_mtime
    except OSError:
        return None


def progress_of(
    run: LocalRun,
    state: str,
    newest: dict[str, Any],
    updated_at: float | None,
    now: float | None = None,
) -> Progress:
    """`newest`: the journal's newest value of each key (newest_values)."""
    record = run.record
    if state == "starting":
        # A session getting ready: the journal may still hold rows past the checkpoint it
        # resumes from (it cuts them before training); a resume goes on from the newest.
        steps = latest_checkpoint(run) or 0
    elif record.state == "running":
        # Steps are recorded only at a session's end; the journal knows better meanwhile
        # (and, when the process is gone, knows the step it reached).
        steps = max(record.steps, int(newest.get("_step", 0)))
    else:
        steps = record.steps
    rate = _number(newest.get(STEPS_PER_S))
    eta = None
    if state == "running" and rate:
        eta = max(0.0, record.total_timesteps - steps) / rate
        if updated_at is not None:  # counted from the row's time, not from now
            eta = max(0.0, eta - ((now or time.time()) - updated_at))
    rollout = _number(newest.get(ROLLOUT_SUCCESS))
    if record.state != "running" and record.rollout_success_rate is not None:
        rollout = record.rollout_success_rate
    validated = _number(newest.get(EVAL_SUCCESS))
    evaluated = validated
    if record.state != "running" and record.success_rate is not None:
        evaluated = record.success_rate  # the final policy's test (50 episodes)
    return Progress(
        steps=steps,
        total_timesteps=record.total_timesteps,
        steps_per_s=rate,
        eta_s=eta,
        rollout_success_rate=rollout,
        eval_success_rate=evaluated,
        validation_success_rate=validated,
        latest_checkpoint=latest_checkpoint(run),
        updated_at=updated_at,
    )


def read_progress(run: LocalRun, state: str | None = None) -> Progress:
    """From the journal's tail only: cheap on a run of any length."""
    rows = journal.tail_rows(run.path / JOURNAL_FILE)
    return progress_of(run, state or run.state, newest_values(rows), journal_mtime(run))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
