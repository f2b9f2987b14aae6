"""The one place that knows wandb: start a run per mode, log, save files, finish.

Disabled mode never imports wandb. Online mode checks the server first so that an
unreachable one fails in seconds with a hint, instead of wandb's long retries.
"""

from __future__ import annotations

import os
import secrets
import string
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rl_train.errors import UserError

DEFAULT_BASE_URL = "https://api.wandb.ai"
SERVER_CHECK_TIMEOUT_S = 5.0
INIT_TIMEOUT_S = 60.0


def new_run_id() -> str:
    """An id in W&B's own alphabet, so the same id names our run and the W&B run."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def server_url() -> str:
    return os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)


def check_server_reachable(base_url: str, timeout: float = SERVER_CHECK_TIMEOUT_S) -> None:
    """Raise UserError unless an HTTP server answers at base_url within timeout."""
    try:
        urllib.request.urlopen(base_url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # it answered; the status does not matter here
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(
            f"W&B server {base_url} is not reachable ({reason}); train with "
            f"--wandb-mode offline and `wandb sync` later, or set WANDB_BASE_URL",
            exit_code=3,
        ) from None


class Tracker:
    """A W&B run (offline/online) or nothing (disabled), behind one small interface."""

    def __init__(self, mode: str, run_id: str, run: Any = None) -> None:
        self.mode = mode
        self.run_id = run_id
        self.run = run
        self.init_seconds = 0.0
        self.finish_seconds = 0.0
        self.log_calls = 0
        self.log_seconds = 0.0
        self.values_logged = 0

    @property
    def enabled(self) -> bool:
        return self.run is not None

    @property
    def files_dir(self) -> Path | None:
        return Path(self.run.dir) if self.run is not None else None

    @property
    def sync_dir(self) -> Path | None:
        """The offline-run-*/run-* folder W&B writes its transaction log into."""
        return self.files_dir.parent if self.files_dir is not None else None

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if self.run is not None:
            started = time.perf_counter()
            # An explicit, ever-increasing step (the global timestep) keeps resumed
            # folders of one run from colliding: W&B restarts its own counter at 0.
            self.run.log(metrics, step=step)
            self.log_seconds += time.perf_counter() - started
            self.log_calls += 1
            self.values_logged += len(metrics)

    def timings(self) -> dict[str, float | int]:
        return {
            "wandb_init_s": self.init_seconds,
            "wandb_finish_s": self.finish_seconds,
            "log_calls": self.log_calls,
            "log_seconds": self.log_seconds,
            "values_logged": self.values_logged,
        }

    def save_file(self, path: Path) -> None:
        """Register a file that lies inside the run's files dir, to upload on sync."""
        if self.run is not None:
            self.run.save(str(path), base_path=str(self.files_dir), policy="now", glob=False)

    def update_summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(values)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        started = time.perf_counter()
        self.run.finish(exit_code=exit_code)
        self.finish_seconds = time.perf_counter() - started
        self.run = None


LOG_FLUSH_INTERVAL_S = 2.0


def _flush_often(settings_class: Any) -> dict[str, float]:
    """wandb-core flushes the offline log every 15 s by default, so a killed run loses
    up to 15 s of rows; flushing every 2 s costs one write syscall. A private setting:
    only passed where this wandb version has it."""
    fields = getattr(settings_class, "model_fields", {})
    if "x_transaction_log_flush_interval" in fields:
        return {"x_transaction_log_flush_interval": LOG_FLUSH_INTERVAL_S}
    return {}


def start(
    mode: str,
    run_id: str,
    run_dir: Path,
    project: str,
    entity: str | None,
    name: str,
    config: dict[str, Any],
    resuming: bool = False,
) -> Tracker:
    if mode == "disabled":
        return Tracker(mode, run_id)
    if mode == "online":
        check_server_reachable(server_url())
    started = time.perf_counter()
    try:
        import wandb
    except ImportError:
        raise UserError(
            "wandb is not installed; pip install wandb or use --wandb-mode disabled"
        ) from None
    settings = wandb.Settings(
        console="off",  # our progress line is not worth a copy in the run
        init_timeout=INIT_TIMEOUT_S,
        silent=True,
        **_flush_often(wandb.Settings),
    )
    try:
        run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            id=run_id,
            mode=mode,
            dir=str(run_dir),
            config=config,
            resume="allow" if resuming else None,
            save_code=False,  # our code snapshot is saved as run files instead
            settings=settings,
        )
    except Exception as exc:  # wandb raises many types; the user needs one line
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "check WANDB_API_KEY / `wandb login`, or use --wandb-mode offline"
        raise UserError(f"wandb could not start the run: {first_line}; {hint}", 3) from None
    tracker = Tracker(mode, run_id, run)
    tracker.init_seconds = time.perf_counter() - started
    return tracker
