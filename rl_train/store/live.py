"""Following runs while they train, for `rl-train runs watch`: what changed since the last look.

Reads only what a run writes anyway (run.json, the journal, checkpoints/latest), never takes
its lock and never writes into it, so it works from another shell, over ssh or on another
node of a shared filesystem, and costs the trainer nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_train.store import query
from rl_train.store.journal import JournalFollower
from rl_train.store.layout import JOURNAL_FILE
from rl_train.store.progress import Progress, journal_mtime, progress_of

DEFAULT_METRICS = ("rollout/ep_rew_mean", "rollout/success_rate")
ENDED = ("finished", "interrupted", "crashed", "aborted", "gone")
# and "starting": a trainer holds the run and is getting ready (fresh or resumed)


@dataclass
class WatchedRun:
    """One run as seen so far: its state, progress and the history of the chosen metrics."""

    path: Path
    metrics: tuple[str, ...]
    state: str = ""  # "" until the first look; "gone" once its folder is
    sessions: int = 0
    progress: Progress | None = None
    record: Any = None
    newest: dict[str, Any] = field(default_factory=dict)  # each key's newest value
    series: dict[str, list[float]] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)  # every key the journal has had
    follower: JournalFollower | None = None

    def __post_init__(self) -> None:
        self.follower = JournalFollower(self.path / JOURNAL_FILE)
        self._clear_history()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def _clear_history(self) -> None:
        self.newest = {}
        self.series = {metric: [] for metric in self.metrics}
        self.keys = set()

    def refresh(self, now: float | None = None) -> list[str]:
        """Look again; returns what happened since the last look, as sentences."""
        run = query.load_run(self.path)
        if run is None:
            if self.state == "gone":
                return []
            self.state = "gone"
            return [f"{self.name}: its run.json is gone (deleted or moved); no longer watched"]
        rows, restarted = self.follower.read_new()
        if restarted:
            self._clear_history()  # a resume cut the journal back to its checkpoint
        for row in rows:
            self._add(row)
        state = "starting" if session_starting(run) else run.state
        progress = progress_of(run, state, self.newest, journal_mtime(run), now)
        events = self._events(run, state, progress)
        self.state, self.sessions, self.progress, self.record = (
            state,
            run.record.sessions,
            progress,
            run.record,
        )
        return events

    def _add(self, row: dict[str, Any]) -> None:
        step = int(row.get("_step", 0))
        self.newest.update(row)
        self.newest["_step"] = max(step, int(self.newest.get("_step", 0)))
        self.keys.update(row)
        for metric in self.metrics:
            value = row.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.series[metric].append(float(value))

    def _events(self, run: query.LocalRun, state: str, progress: Progress) -> list[str]:
        record = run.record
        steps = f"{progress.steps:,}/{progress.total_timesteps:,} steps"
        if not self.state:
            return [] if state in ("running", "starting") else [f"{self.name}: {state} at {steps}"]
        if state == self.state and record.sessions == self.sessions:
            return []
        if state == "starting":
            holder = run.in_use()
            return [f"{self.name}: a new session is starting (pid {holder.pid if holder else '?'})"]
        if state == "running":
            if record.sessions > 1 and record.sessions > self.sessions:
                return [
                    f"{self.name}: resumed from step {record.session_start_step:,} "
                    f"(session {record.sessions})"
                ]
            return [f"{self.name}: training (session {record.sessions})"]
        if state == "finished":
            what = ""
            if progress.eval_success_rate is not None:
                what = f", success {progress.eval_success_rate:.0%} (test episodes)"
            return [f"{self.name}: finished at {steps}{what}"]
        why = ""
        if record.state == "running":  # it never recorded an end
            why = f" (its process {record.pid} is gone)"
        resume = ""
        if state in ("crashed", "interrupted") and progress.latest_checkpoint:
            resume = (
                f"; resume from step {progress.latest_checkpoint:,} with "
                f"rl-train --resume {run.path}"
            )
        return [f"{self.name}: {state} at {steps}{why}{resume}"]


def session_starting(run: query.LocalRun) -> bool:
    """A trainer holds the run but has not recorded itself yet: a fresh run or a resume
    starting up. Till then run.json and the journal are the previous session's."""
    holder = run.in_use()
    return holder is not None and holder.purpose == "training" and holder.pid != run.record.pid


def running_runs(output_dir: Path) -> list[Path]:
    """The runs under output_dir whose trainer runs now."""
    return [
        run.path
        for run in query.find_runs(output_dir)
        if run.record.state == "running" and run.state == "running"
    ]


class Watch:
    """The runs `runs watch` follows: the named ones, or every running run under
    output_dir, joined by those that start while it watches."""

    def __init__(
        self,
        output_dir: Path,
        paths: list[Path],
        metrics: tuple[str, ...],
        follow_new: bool,
    ) -> None:
        self.output_dir = output_dir
        self.metrics = metrics
        self.follow_new = follow_new
        self.runs = [WatchedRun(path, metrics) for path in paths]

    def refresh(self) -> list[str]:
        now = time.time()
        events = []
        if self.follow_new:
            known = {run.path.resolve() for run in self.runs}
            for path in running_runs(self.output_dir):
                if path.resolve() not in known:
                    self.runs.append(WatchedRun(path, self.metrics))
                    events.append(f"{path.name}: started")
        for run in self.runs:
            events.extend(run.refresh(now))
        return events

    @property
    def all_ended(self) -> bool:
        return all(run.ended for run in self.runs)

    def missing_metrics(self) -> list[str]:
        """Chosen metrics no watched run's journal has had."""
        return [m for m in self.metrics if not any(m in run.keys for run in self.runs)]

    def known_keys(self) -> list[str]:
        keys = {key for run in self.runs for key in run.keys}
        return sorted(k for k in keys if not k.startswith("_"))
