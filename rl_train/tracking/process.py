"""The process that owns the W&B run: `wandb.init`, every `run.log`, `run.finish`.

Why a process of its own: wandb's Python side costs CPU and holds the GIL (its `run.log`,
its asyncio and logging threads). Here the trainer only pickles each row into a socket;
this process, wandb and wandb-core do the rest beside it (docs/logging-modes.md).

It also finishes the run when the trainer dies without doing so (a crash, SIGKILL):
the socket's end-of-file is the signal, and the run ends with exit code 1. It never
outlives its finish bound (RunSpec.finish_timeout): wandb's own finish_timeout asks wandb
to give up first; past the bound, or on SIGTERM (what the trainer sends when its own wait
runs out), it kills wandb-core (which runs in a session of its own) and exits. The local
transaction log is written before anything is sent, so what the server did not get stays
on disk for `rl-train runs sync`.

Started by tracking.client.Tracker as `python -m rl_train.tracking.process FD RUN_DIR`,
FD being its end of a socket pair (RUN_DIR only names the run in `ps`), in a process
group of its own: a Ctrl-C or a TERM to the trainer's process group does not reach it,
the trainer ends the run. Protocol (pickled tuples over multiprocessing's Connection):
  trainer -> here: a client.RunSpec, then ("log", row, step), ("video", key, path, step, caption),
                   ("save", paths, base, policy), ("summary", values), ("flush",),
                   ("finish", exit_code)
  here -> trainer: ("started", info) | ("error", message, exit_code); ("flushed",);
                   ("finished", timings)
Only the standard library is imported until the run starts (wandb then).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from rl_train.errors import UserError
from rl_train.tracking.client import RunSpec
from rl_train.tracking.server import check_server_reachable, server_url

INIT_TIMEOUT_S = 60.0
# Of the finish bound, what wandb's own finish_timeout leaves for the rest: the last
# file-stream request, our reply, and wandb's teardown.
FINISH_MARGIN_S = 4.0
KILL_GRACE_S = 2.0  # between SIGTERM and SIGKILL of wandb-core
PARENT_POLL_S = 0.5
# Below the trainer and its env workers: W&B's work (and wandb-core's, which inherits it)
# takes the CPU they leave; a few percent of a core, it keeps up (docs/logging-modes.md).
LOGGING_NICE = 10
LOG_FLUSH_INTERVAL_S = 2.0
WANDB_CORE_GOMAXPROCS = "1"
HISTOGRAM_BINS = 64

# Work wandb does by default that we do not need: a system-metrics sampler (every 15 s,
# in wandb-core, competing with the env workers for cores), system metadata and machine
# probing at start (our run dir has config.yaml, run.json and code/git.json instead), a
# pip requirements dump, a git diff and code saving (our code snapshot is saved as run
# files). Private settings (x_*) are only passed where this wandb version has them.
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


def start_run(spec: RunSpec) -> tuple[Any, dict[str, float]]:
    """wandb.init in this process: (the run, its import and init seconds)."""
    if spec.mode == "online":
        check_server_reachable(server_url())
    # wandb reports its own errors and usage to W&B unless told not to: an OpenTelemetry
    # measurement on every run.log plus two export threads, and Sentry in wandb-core.
    # Offline runs send none of it anyway, and on a server with a poor network it is
    # traffic nobody asked for; a user who wants it sets WANDB_ERROR_REPORTING=true.
    os.environ.setdefault("WANDB_ERROR_REPORTING", "false")
    # wandb-core (Go) inherits this environment. One OS thread runs its goroutines: it
    # has a row per rollout to write, and with one thread per core the Go runtime wakes up
    # more often on the cores the env workers are pinned to (measured in
    # docs/logging-modes.md). A user's own GOMAXPROCS is kept.
    os.environ.setdefault("GOMAXPROCS", WANDB_CORE_GOMAXPROCS)
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
        # wandb otherwise waits for the server for ever at the end (a dead server: minutes
        # of retries); past this it gives up and leaves the rest in the local log.
        finish_timeout=max(1.0, spec.finish_timeout - FINISH_MARGIN_S),
        silent=True,
        # Its warnings go to its debug log: a dead server's "timed out finishing run" and
        # "fatal error while uploading" become the trainer's one line with the fix.
        show_warnings=False,
        **lean_settings(wandb.Settings),
    )
    try:
        run = wandb.init(
            project=spec.project,
            entity=spec.entity,
            name=spec.name,
            id=spec.run_id,
            mode=spec.mode,
            dir=str(spec.run_dir),
            config=spec.config,
            group=spec.group,
            resume="allow" if spec.resuming else None,
            save_code=False,  # our code snapshot is saved as run files instead
            settings=settings,
        )
    except Exception as exc:  # wandb raises many types; the user needs one line
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "check WANDB_API_KEY / `wandb login`, or use --wandb-mode offline"
        raise UserError(f"wandb could not start the run: {first_line}; {hint}", 3) from None
    timings = {"import_s": imported - started, "init_s": time.perf_counter() - imported}
    return run, timings


def finite_histogram(values: Any, bins: int = HISTOGRAM_BINS) -> tuple[Any, Any]:
    import numpy as np

    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        flat = np.zeros(1)
    return np.histogram(flat, bins=bins)


class _RunServer:
    """Carries out the trainer's messages on the run, in order."""

    def __init__(self, run: Any, conn: Connection) -> None:
        self.run = run
        self.conn = conn
        self.log_seconds = 0.0  # time spent in wandb on rows
        self._warned = False

    def _row(self, metrics: dict[str, Any]) -> dict[str, Any]:
        import wandb

        row = {}
        for key, value in metrics.items():
            if getattr(value, "ndim", 0) >= 1 and hasattr(value, "dtype"):
                # A W&B histogram holds bin counts, not the raw values.
                value = wandb.Histogram(np_histogram=finite_histogram(value))
            row[key] = value
        return row

    def handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "log":
            _, metrics, step = message
            started = time.perf_counter()
            # An explicit, ever-increasing step (the global timestep) keeps resumed
            # folders of one run from colliding: W&B restarts its own counter at 0.
            self.run.log(self._row(metrics), step=step)
            self.log_seconds += time.perf_counter() - started
        elif kind == "video":
            import wandb

            _, key, path, step, caption = message
            self.run.log({key: wandb.Video(path, caption=caption or None, format="mp4")}, step=step)
        elif kind == "save":
            _, paths, base_path, policy = message
            for path in paths:
                self.run.save(path, base_path=base_path, policy=policy, glob=False)
        elif kind == "summary":
            self.run.summary.update(message[1])
        elif kind == "flush":
            self.conn.send(("flushed",))
        else:
            raise ValueError(f"unknown message {kind!r}")

    def serve(self) -> int:
        """Until "finish" (its exit code) or the trainer's end of the socket closes (1)."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):  # the trainer died without finishing the run
                return 1
            if message[0] == "finish":
                return int(message[1])
            try:
                self.handle(message)
            except Exception as exc:  # noqa: BLE001 (a failed row must not stop the run)
                if not self._warned:
                    self._warned = True
                    print(f"rl-train: warning: W&B logging failed: {exc}", file=sys.stderr)


def _children() -> list[int]:
    """This process's child processes (wandb-core), from /proc: the standard library only."""
    me, found = str(os.getpid()), []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # pid (comm) state ppid ...; comm may hold spaces, so split after ')'.
                ppid = f.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == me:
            found.append(int(entry))
    return found


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        for send in (os.killpg, os.kill):  # wandb-core leads a process group of its own
            try:
                send(pid, signum)
                break
            except (ProcessLookupError, PermissionError):
                continue


def end_now(exit_code: int) -> None:
    """Kill wandb-core (TERM, then KILL) and exit at once, whatever the run is doing."""
    children = _children()
    _signal_all(children, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_S
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in children):
        for pid in children:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it, or it lingers as a zombie
            except ChildProcessError:
                pass
        time.sleep(0.05)
    _signal_all(_children(), signal.SIGKILL)
    os._exit(exit_code)


class Deadline:
    """Ends the process (end_now) once armed and `seconds` have passed."""

    def __init__(self) -> None:
        self._armed = threading.Event()
        self._lock = threading.Lock()

    def arm(self, seconds: float, exit_code: int) -> None:
        with self._lock:
            if self._armed.is_set():
                return
            self._armed.set()
        timer = threading.Timer(seconds, end_now, args=(exit_code,))
        timer.daemon = True
        timer.start()


def watch_parent(deadline: Deadline, finish_timeout: float) -> None:
    """If the trainer dies while this process is busy elsewhere than reading the socket
    (whose end-of-file also tells), the finish bound starts all the same."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        deadline.arm(finish_timeout, 1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def lower_wandb_core_priority() -> None:
    """wandb-core starts a session of its own, so Linux's autogroup scheduling would give
    it a share of the CPU equal to the trainer's whole session; its autogroup gets our
    niceness instead (silently left as it is where the kernel has no autogroups)."""
    for pid in _children():
        try:
            with open(f"/proc/{pid}/autogroup", "w") as f:
                f.write(str(LOGGING_NICE))
        except OSError:
            pass


def main(fd: int) -> None:
    # In a process group of its own, no terminal Ctrl-C reaches this process; a SIGTERM
    # is the trainer (or a user) ending it now.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: end_now(128 + signum))
    # pass_fds made it inheritable: wandb-core must not hold the trainer's socket open.
    os.set_inheritable(fd, False)
    conn = Connection(fd)
    try:
        spec = conn.recv()
    except (EOFError, OSError):
        return
    deadline = Deadline()
    watch_parent(deadline, spec.finish_timeout)
    try:
        os.nice(LOGGING_NICE)
    except OSError:
        pass  # not allowed here: it runs at the trainer's priority
    try:
        run, timings = start_run(spec)
    except UserError as exc:
        conn.send(("error", str(exc), exc.exit_code))
        return
    except Exception as exc:  # noqa: BLE001 (reported in one line by the trainer)
        conn.send(("error", f"wandb could not start the run: {exc}", 3))
        return
    lower_wandb_core_priority()
    conn.send(("started", {"files_dir": str(run.dir), **timings}))
    server = _RunServer(run, conn)
    exit_code = server.serve()
    # A little short of the bound: the trainer, waiting the whole bound, still gets the reply.
    deadline.arm(max(1.0, spec.finish_timeout - 1.0), exit_code)
    started = time.perf_counter()
    run.finish(exit_code=exit_code)
    timings["finish_s"] = time.perf_counter() - started
    timings["log_s"] = server.log_seconds
    try:
        conn.send(("finished", timings))
    except OSError:
        pass  # the trainer is gone
    conn.close()
    # wandb's teardown at exit (it stops wandb-core) runs within the armed deadline too.


if __name__ == "__main__":
    main(int(sys.argv[1]))
