"""The one place that knows wandb: start a run per mode, log, save files, finish.

Disabled mode never imports wandb. Online mode checks the server first so that an
unreachable one fails in seconds with a hint, instead of wandb's long retries.
"""

from __future__ import annotations

import os
import queue
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
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


HISTOGRAM_BINS = 64


def _finite_histogram(values: Any, bins: int) -> tuple[Any, Any]:
    import numpy as np

    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        flat = np.zeros(1)
    return np.histogram(flat, bins=bins)


class Tracker:
    """A W&B run (offline/online) or nothing (disabled), behind one small interface.

    wandb's `run.log` blocks its caller until wandb's own asyncio thread has encoded the
    row and written it to wandb-core's socket: ~0.5 ms on an idle machine, 5-15 ms on a
    busy 2-core one (benchmarks/logging_modes.py), paid by the training loop once per
    rollout. So every call into the run goes through one queue to a logging thread, in
    order; the trainer only pays for putting a row in the queue. `finish()` drains it.
    """

    QUEUE_SIZE = 1000  # rows; a full queue makes log() wait (back-pressure)

    def __init__(self, mode: str, run_id: str, run: Any = None) -> None:
        self.mode = mode
        self.run_id = run_id
        self.run = run
        self.import_seconds = 0.0  # import wandb
        self.init_seconds = 0.0  # the wandb.init call
        self.wait_seconds = 0.0  # start-up blocked on W&B (not hidden behind env start-up)
        self.finish_seconds = 0.0
        self.log_calls = 0
        self.log_seconds = 0.0  # what callers of log() paid
        self.thread_seconds = 0.0  # what the logging thread spent in wandb
        self.values_logged = 0
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error_reported = False

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

    def _submit(self, call: Callable[[], None]) -> None:
        if self._queue is None:
            self._queue = queue.Queue(maxsize=self.QUEUE_SIZE)
            self._thread = threading.Thread(
                target=self._work, name="rl-train-wandb-log", daemon=True
            )
            self._thread.start()
        self._queue.put(call)

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            call = self._queue.get()
            try:
                if call is None:
                    return
                started = time.perf_counter()
                call()
                self.thread_seconds += time.perf_counter() - started
            except Exception as exc:  # a failed row must not stop training
                if not self._error_reported:
                    self._error_reported = True
                    print(f"rl-train: warning: W&B logging failed: {exc}", file=sys.stderr)
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until the logging thread has handed everything queued to wandb."""
        if self._queue is not None:
            self._queue.join()

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """Queue one history row. Arrays (numpy, at least 1-d) become W&B histograms in
        the logging thread; pass a copy if the caller will change the array."""
        if self.run is None:
            return
        started = time.perf_counter()
        run = self.run

        def write() -> None:
            row = {k: self._histogram_if_array(v) for k, v in metrics.items()}
            # An explicit, ever-increasing step (the global timestep) keeps resumed
            # folders of one run from colliding: W&B restarts its own counter at 0.
            run.log(row, step=step)

        self._submit(write)
        self.log_seconds += time.perf_counter() - started
        self.log_calls += 1
        self.values_logged += len(metrics)

    def _histogram_if_array(self, value: Any) -> Any:
        if getattr(value, "ndim", 0) >= 1 and hasattr(value, "dtype"):
            return self.histogram(value)
        return value

    def histogram(self, values: Any, bins: int = HISTOGRAM_BINS) -> Any:
        """A W&B histogram of an array's values (binned here: a row holds the bin
        counts, not the raw values)."""
        import wandb  # a run exists, so wandb is already imported

        return wandb.Histogram(np_histogram=_finite_histogram(values, bins))

    def timings(self) -> dict[str, float | int]:
        return {
            "wandb_import_s": self.import_seconds,
            "wandb_init_s": self.init_seconds,
            "wandb_wait_s": self.wait_seconds,
            "wandb_finish_s": self.finish_seconds,
            "log_calls": self.log_calls,
            "log_seconds": self.log_seconds,
            "log_thread_seconds": self.thread_seconds,
            "values_logged": self.values_logged,
        }

    def save_file(self, path: Path, policy: str = "now") -> None:
        """Register a file that lies inside the run's files dir: uploaded now (online)
        or at the end ("end"), and by `wandb sync` for offline runs."""
        if self.run is not None:
            run, base = self.run, str(self.files_dir)
            self._submit(lambda: run.save(str(path), base_path=base, policy=policy, glob=False))

    def update_summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            run = self.run
            self._submit(lambda: run.summary.update(values))

    def finish(self, exit_code: int = 0) -> None:
        if self.run is None:
            return
        started = time.perf_counter()
        self.flush()
        if self._queue is not None:
            self._queue.put(None)
            assert self._thread is not None
            self._thread.join()
        self.run.finish(exit_code=exit_code)
        self.finish_seconds = time.perf_counter() - started
        self.run = None


LOG_FLUSH_INTERVAL_S = 2.0
# Work wandb does by default that we do not need, each measured by
# benchmarks/logging_modes.py: a system-metrics sampler (CPU, memory, disk... every
# 15 s, in wandb-core, competing with the env workers for cores), system metadata and
# machine info collection at start (hostname, git, CPU/GPU probing: our run dir has
# config.yaml, run.json and code/git.json instead), a pip requirements dump, a git diff
# and code saving (our code snapshot is saved as run files). Private settings (x_*)
# are only passed where this wandb version has them.
LEAN_SETTINGS: dict[str, Any] = {
    "x_disable_stats": True,
    "x_disable_meta": True,
    "x_disable_machine_info": True,
    "x_save_requirements": False,
    "disable_git": True,
    "disable_code": True,
    "x_transaction_log_flush_interval": LOG_FLUSH_INTERVAL_S,
}


def lean_settings(settings_class: Any) -> dict[str, Any]:
    """LEAN_SETTINGS that this wandb version knows.

    x_transaction_log_flush_interval: wandb-core flushes the offline log every 15 s by
    default, so a killed run loses up to 15 s of rows; every 2 s costs one write syscall.
    """
    fields = getattr(settings_class, "model_fields", {})
    return {key: value for key, value in LEAN_SETTINGS.items() if key in fields}


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
    # wandb reports its own errors and usage to W&B unless told not to: an OpenTelemetry
    # measurement on every run.log plus two export threads in this process, and Sentry in
    # wandb-core. Offline runs send none of it anyway, and on a server with a poor network
    # it is traffic nobody asked for; a user who wants it sets WANDB_ERROR_REPORTING=true.
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    started = time.perf_counter()
    try:
        import wandb
    except ImportError:
        raise UserError(
            "wandb is not installed; pip install wandb or use --wandb-mode disabled"
        ) from None
    imported = time.perf_counter()
    settings = wandb.Settings(
        console="off",  # our progress line is not worth a copy in the run
        init_timeout=INIT_TIMEOUT_S,
        silent=True,
        **lean_settings(wandb.Settings),
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
    tracker.import_seconds = imported - started
    tracker.init_seconds = time.perf_counter() - imported
    return tracker


class BackgroundStart:
    """`start(...)` in a thread, so wandb's import and its wandb-core service start-up
    overlap with the env workers' start-up instead of adding to it.

    wandb.init needs no main-thread resources with console capture off (no signal
    handlers), and the env workers are forkserver/spawn children that inherit no
    threads. `result()` joins and re-raises whatever start() raised.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tracker: Tracker | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=args, kwargs=kwargs, name="rl-train-wandb-init", daemon=True
        )
        self._thread.start()

    def _run(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._tracker = start(*args, **kwargs)
        except BaseException as exc:  # handed to the main thread by result()
            self._error = exc

    def result(self) -> Tracker:
        waited_from = time.perf_counter()
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._tracker is not None
        self._tracker.wait_seconds = time.perf_counter() - waited_from
        return self._tracker
