"""The trainer's side of W&B: start a run per mode, log, save files, finish.

wandb itself runs in the logging process (tracking/process.py); this module imports none
of it, and disabled mode starts no process. Online mode checks the server first
(tracking/server.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rl_train.config.train_config import WANDB_FINISH_TIMEOUT_S
from rl_train.errors import UserError

LOGGING_PROCESS_MODULE = "rl_train.tracking.process"
KILL_GRACE_S = 3.0  # between SIGTERM and SIGKILL of the logging process and wandb-core


@dataclass
class RunSpec:
    """What starting a W&B run takes; the logging process receives it (pickled)."""

    mode: str
    run_id: str
    run_dir: Path
    project: str
    entity: str | None
    name: str
    config: dict[str, Any]
    resuming: bool = False
    group: str | None = None  # W&B's run group: a sweep's name
    finish_timeout: float = WANDB_FINISH_TIMEOUT_S  # the whole finish, from training's end


class Tracker:
    """A W&B run (offline/online) or nothing (disabled), behind one small interface.

    The run lives in a process of its own (tracking/process.py says why): each call here
    is one pickled message over a socket, carried out there in order. The trainer
    pays for pickling and one write per row; when the socket's buffer is full (wandb is
    far behind), log() waits: back-pressure, not unbounded memory.
    """

    def __init__(
        self, mode: str, run_id: str, finish_timeout: float = WANDB_FINISH_TIMEOUT_S
    ) -> None:
        self.mode = mode
        self.run_id = run_id
        self.finish_timeout = finish_timeout
        self.finish_timed_out = False  # the logging process had to be killed
        self.files_dir: Path | None = None  # the run's files/ folder, once started
        self.import_seconds = 0.0  # import wandb
        self.init_seconds = 0.0  # the wandb.init call
        self.wait_seconds = 0.0  # start-up blocked on W&B (not hidden behind env start-up)
        self.finish_seconds = 0.0
        self.log_calls = 0
        self.log_seconds = 0.0  # what callers of log() paid
        self.process_log_seconds = 0.0  # what the logging process spent in wandb on rows
        self.values_logged = 0
        # Seconds (wall and CPU) the trainer spent in rl-train's W&B code, rows and files
        # (accounted()): what W&B costs the training loop itself.
        self.caller_seconds = 0.0
        self.caller_cpu_seconds = 0.0
        self._accounting_depth = 0
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._lost_reported = False

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    @contextlib.contextmanager
    def accounted(self) -> Iterator[None]:
        """Adds the time spent inside (wall, and the calling thread's CPU) to caller_seconds
        and caller_cpu_seconds, once however nested: what W&B costs the trainer itself,
        beside the logging process's CPU (benchmarks/logging_modes.py)."""
        self._accounting_depth += 1
        outermost = self._accounting_depth == 1
        started, cpu_started = (time.perf_counter(), time.thread_time()) if outermost else (0, 0)
        try:
            yield
        finally:
            self._accounting_depth -= 1
            if outermost:
                self.caller_seconds += time.perf_counter() - started
                self.caller_cpu_seconds += time.thread_time() - cpu_started

    @property
    def sync_dir(self) -> Path | None:
        """The offline-run-*/run-* folder W&B writes its transaction log into."""
        return self.files_dir.parent if self.files_dir is not None else None

    # -- start ---------------------------------------------------------------------------

    def _launch(self, spec: RunSpec) -> None:
        """Start the logging process and hand it the run to start; returns at once."""
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    LOGGING_PROCESS_MODULE,
                    str(theirs.fileno()),
                    str(spec.run_dir.resolve()),  # names the run in `ps`
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # wandb is silent; warnings go to stderr
                **own_process_group(),
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send(spec)

    def _await_start(self) -> None:
        """Wait for the process to report the run started; raise UserError if it did not."""
        assert self._conn is not None
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            reply = ("error", "the W&B logging process ended before the run started", 3)
        if reply[0] != "started":
            self._close()
            message, exit_code = reply[1], reply[2]
            raise UserError(message, exit_code)
        info = reply[1]
        self.files_dir = Path(info["files_dir"])
        self.import_seconds = info["import_s"]
        self.init_seconds = info["init_s"]

    # -- calls ---------------------------------------------------------------------------

    def _send(self, message: tuple) -> None:
        if self._conn is None:
            return
        try:
            self._conn.send(message)
        except OSError:  # the logging process died: train on, the journal has every row
            self._lost()

    def _lost(self) -> None:
        if not self._lost_reported:
            self._lost_reported = True
            print(
                "rl-train: warning: the W&B logging process ended; training goes on, and "
                "TensorBoard and the run's journal keep every row",
                file=sys.stderr,
            )
        self._close()

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """Send one history row. Arrays (numpy, at least 1-d) become W&B histograms in the
        logging process."""
        if self._conn is None:
            return
        started = time.perf_counter()
        with self.accounted():
            self._send(("log", metrics, step))
        if self._conn is None:  # it died: this row went nowhere
            return
        self.log_seconds += time.perf_counter() - started
        self.log_calls += 1
        self.values_logged += len(metrics)

    def log_video(self, key: str, path: Path, step: int, caption: str = "") -> None:
        """An MP4 file into the history at `step` (wandb copies it into the run's media)."""
        with self.accounted():
            self._send(("video", key, str(path), step, caption))

    def save_files(self, paths: list[Path], policy: str = "now") -> None:
        """Register files that lie inside the run's files dir: uploaded now (online) or
        at the end ("end"), and by `wandb sync` for offline runs. One message for all of
        them: a checkpoint or the code snapshot is many files, sent together."""
        if self.files_dir is not None and paths:
            with self.accounted():
                self._send(("save", [str(path) for path in paths], str(self.files_dir), policy))

    def update_summary(self, values: dict[str, Any]) -> None:
        self._send(("summary", values))

    def flush(self) -> None:
        """Wait until the logging process has handed everything sent so far to wandb."""
        self._send(("flush",))
        self._reply("flushed")

    def _reply(self, kind: str) -> tuple | None:
        if self._conn is None:
            return None
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            self._lost()
            return None
        assert reply[0] == kind, reply
        return reply

    def finish(self, exit_code: int = 0) -> None:
        """End the W&B run within `finish_timeout` seconds: past it, the logging process and
        wandb-core are ended (finish_timed_out) and what the server lacks stays on disk."""
        if self._conn is None:
            return
        started = time.perf_counter()
        self._send(("finish", exit_code))
        reply = None
        try:
            if self._conn is not None and self._conn.poll(self.finish_timeout):
                reply = self._conn.recv()
        except (EOFError, OSError):
            pass  # it died: the same as no reply
        if reply is not None and reply[0] == "finished":
            self.process_log_seconds = reply[1]["log_s"]
        else:
            self.finish_timed_out = self._process_alive()
        remaining = self.finish_timeout - (time.perf_counter() - started)
        self._close(wait_s=max(remaining, 1.0))
        self.finish_seconds = time.perf_counter() - started

    def _process_alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _close(self, wait_s: float = 5.0) -> None:
        """Close the socket and see the logging process end: after `wait_s` seconds it
        and wandb-core get SIGTERM, then SIGKILL; no process of the run is left."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is None:
            return
        try:
            self._process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            end_process_tree(self._process)
        self._process = None

    def timings(self) -> dict[str, float | int]:
        return {
            "wandb_import_s": self.import_seconds,
            "wandb_init_s": self.init_seconds,
            "wandb_wait_s": self.wait_seconds,
            "wandb_finish_s": self.finish_seconds,
            "log_calls": self.log_calls,
            "log_seconds": self.log_seconds,
            "log_process_seconds": self.process_log_seconds,
            "values_logged": self.values_logged,
            "wandb_trainer_s": self.caller_seconds,
            "wandb_trainer_cpu_s": self.caller_cpu_seconds,
        }


def own_process_group() -> dict[str, Any]:
    """Popen arguments for a process group of its own: Ctrl-C (to the terminal's foreground
    group) and a TERM to our group do not end the W&B run before the trainer has logged
    its last rows; the trainer ends it. The same session, not a new one: Linux's autogroup
    scheduling gives each session an equal share of the CPU, so a session of its own would
    take CPU from training instead of yielding it (process.LOGGING_NICE)."""
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # noqa: PLW1509 (before exec, nothing else runs)


def _descendants(pid: int) -> list[Any]:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def end_process_tree(process: subprocess.Popen) -> None:
    """SIGTERM to the logging process and wandb-core (which leads a process group of its
    own), KILL_GRACE_S to go, then SIGKILL to whatever is left."""
    import psutil

    tree = _descendants(process.pid)  # found before they go: orphans lose their parent
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for child in tree:
            try:
                child.send_signal(signum)
            except psutil.Error:
                pass
        if process.poll() is None:
            process.send_signal(signum)
        try:
            process.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            continue
        _, alive = psutil.wait_procs(tree, timeout=KILL_GRACE_S)
        if not alive:
            return
        tree = alive


class BackgroundStart:
    """Start the W&B run in its logging process, which imports wandb and waits for
    wandb-core while the trainer imports torch and starts its env workers (session.py);
    `result()` waits for it (or raises the UserError it reported). Disabled mode starts
    nothing and imports no wandb. Arguments: those of RunSpec."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        spec = RunSpec(*args, **kwargs)
        self._tracker = Tracker(spec.mode, spec.run_id, spec.finish_timeout)
        if spec.mode != "disabled":
            self._tracker._launch(spec)

    def result(self) -> Tracker:
        if self._tracker.mode == "disabled":
            return self._tracker
        waited_from = time.perf_counter()
        self._tracker._await_start()
        self._tracker.wait_seconds = time.perf_counter() - waited_from
        return self._tracker


def start(*args: Any, **kwargs: Any) -> Tracker:
    """A started Tracker: arguments as BackgroundStart's."""
    return BackgroundStart(*args, **kwargs).result()
