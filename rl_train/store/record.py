"""runs/<name>/run.json: what a run is and how it ended, for `rl-train runs` and resume."""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rl_train.machine import describe
from rl_train.store.atomic import write_text_atomic
from rl_train.store.layout import RECORD_FILE, WANDB_DIR

STATES = ("running", "finished", "interrupted", "crashed", "aborted")


def new_run_id() -> str:
    """An id in W&B's own alphabet, so the same id names our run and the W&B run."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def library_versions() -> dict[str, str]:
    versions = {}
    names = ("rl-train", "stable-baselines3", "torch", "gymnasium", "pybullet", "numpy", "wandb")
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class RunRecord:
    run_id: str
    run_name: str
    env_id: str
    total_timesteps: int
    wandb_mode: str
    state: str = "running"
    pid: int = 0
    steps: int = 0
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    success_rate: float | None = None  # the final policy's, on the test episodes
    rollout_success_rate: float | None = None
    # The final test (training/final_test.py): its first seed, and the final policy's and
    # best's results on the test episodes.
    test: dict[str, Any] | None = None
    wandb_dirs: list[str] = field(default_factory=list)
    # Online folders: how far the upload got when the session ended (store/upload.py),
    # {folder name: {"history_rows_uploaded": n, "complete": bool}}.
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: int = 0
    # Where each session trained: {"session", "from_step", "machine"} (a run packed on one
    # machine may go on on another; the machine line as rl_train.machine.describe()).
    machines: list[dict[str, Any]] = field(default_factory=list)
    session_started: float = field(default_factory=time.time)
    session_start_step: int = 0
    run_dir: str = ""
    timings: dict[str, Any] = field(default_factory=dict)  # of the latest session
    # The latest resume: did it continue exactly (None: never resumed), and if not, why.
    resumed_exactly: bool | None = None
    resume_not_exact_because: str = ""
    # A resume with W&B disabled (wandb never imported) leaves the earlier W&B folders'
    # rows after its step to cut by the next session or `runs sync` that has wandb.
    wandb_cut_pending: int | None = None

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        data = json.loads((run_dir / RECORD_FILE).read_text())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load_or_new(cls, run_dir: Path, config: Any) -> RunRecord:
        if (run_dir / RECORD_FILE).exists():
            record = cls.load(run_dir)
            record.moved_to(run_dir)
            record.total_timesteps = config.total_timesteps
        else:
            record = cls(
                run_id=new_run_id(),
                run_name=config.run_name,
                env_id=config.env_id,
                total_timesteps=config.total_timesteps,
                wandb_mode=config.wandb_mode,
            )
        record.run_dir = str(run_dir)
        record.session_started = time.time()
        record.session_start_step = record.steps
        record.timings = {}
        return record

    def moved_to(self, run_dir: Path) -> None:
        """Name the run's folders where the run is now: it may have been moved, resumed from
        another folder or unpacked on another machine (store/pack.py), and the record keeps
        the paths it was written with."""
        self.run_dir = str(run_dir)
        self.wandb_dirs = [str(run_dir / WANDB_DIR / Path(d).name) for d in self.wandb_dirs]

    def save(self) -> None:
        data = asdict(self)
        write_text_atomic(Path(self.run_dir) / RECORD_FILE, json.dumps(data, indent=2) + "\n")

    def add_wandb_dir(self, path: Path) -> None:
        if str(path) not in self.wandb_dirs:
            self.wandb_dirs.append(str(path))

    def note_resume(self, not_exact: str | None) -> None:
        self.resumed_exactly = not_exact is None
        self.resume_not_exact_because = not_exact or ""

    def wandb_cut(self, step: int, deferred: bool) -> int | None:
        """The step after which the W&B folders' rows must go now (None: nothing to do
        now), for a resume from `step`; `deferred`: this session cannot (W&B disabled)."""
        pending = step if self.wandb_cut_pending is None else min(step, self.wandb_cut_pending)
        if deferred:
            self.wandb_cut_pending = pending if self.wandb_dirs else None
            return None
        self.wandb_cut_pending = None
        return pending if self.wandb_dirs else None

    def mark_running(self, tracker: Any) -> None:
        self.state, self.pid, self.ended_at = "running", os.getpid(), None
        self.wandb_mode = getattr(tracker, "mode", self.wandb_mode)
        self.sessions += 1
        self.machines.append(
            {"session": self.sessions, "from_step": self.session_start_step, "machine": describe()}
        )
        self.save()

    def mark_ended(
        self, state: str, steps: int, success: float | None, rollout_success: float | None
    ) -> None:
        self.state, self.steps, self.ended_at = state, steps, time.time()
        if success is not None:
            self.success_rate = success
        if rollout_success is not None:
            self.rollout_success_rate = rollout_success
        self.save()
