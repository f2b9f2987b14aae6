"""One process writes a run at a time: an exclusive lock on <run_dir>/.lock.

The lock is the kernel's (flock): it dies with the process that holds it, so a SIGKILL, a
crash or a reboot never leaves a stale lock behind. The holder writes who it is (pid,
host, what it does, since when) into the file, so that a refused command can say so.

Readers (`rl-train runs list/show`) only probe: a shared lock taken and dropped at once.
A writer that meets a probe retries for a moment instead of failing.

On NFS, Linux implements flock with the server's byte-range locks (NFSv4, or v3 with
lockd), so the lock holds across machines; a filesystem without lock support (some
Lustre or FUSE mounts) makes acquire() warn once and go on unlocked.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rl_train.errors import UserError
from rl_train.store.layout import LOCK_FILE

RETRY_S = 1.0  # how long a writer waits out readers' probes
UNSUPPORTED = (errno.ENOLCK, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


@dataclass
class Holder:
    """Who holds a run's lock, as it wrote itself into the lock file."""

    pid: int = 0
    host: str = ""
    purpose: str = ""  # "training", "sync", "clean"
    since: float = 0.0

    def describe(self) -> str:
        if not self.pid:
            return "another process"
        since = datetime.fromtimestamp(self.since).strftime("%H:%M") if self.since else "?"
        what = f" ({self.purpose} since {since})" if self.purpose else ""
        return f"pid {self.pid} on {self.host or 'an unknown host'}{what}"


class RunInUse(UserError):
    """The run is locked by another process."""

    def __init__(self, run_dir: Path, holder: Holder, fix: str) -> None:
        fix = fix.format(pid=holder.pid or "<pid>")
        super().__init__(f"run {run_dir.name} is in use by {holder.describe()}; {fix}")
        self.holder = holder


def _read_holder(fd: int) -> Holder:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return Holder(**{k: data[k] for k in Holder.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError):
        return Holder()  # being written this very moment, or not ours


def holder(run_dir: Path) -> Holder | None:
    """Who holds the run's lock, or None when nobody does (or the run has no lock file)."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)
        except OSError:
            return None  # no locking here: nobody can be said to hold it
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """An exclusive lock on one run dir, held until release() or the process ends."""

    def __init__(self, run_dir: Path, fd: int | None) -> None:
        self.run_dir = run_dir
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: Path, purpose: str, fix: str) -> RunLock:
        """Lock run_dir (which must exist) or raise RunInUse naming the holder and `fix`
        (which may name the holder's {pid})."""
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                found = _read_holder(fd)
                os.close(fd)
                raise RunInUse(run_dir, found, fix) from None
            except OSError as exc:
                if exc.errno not in UNSUPPORTED:
                    os.close(fd)
                    raise
                os.close(fd)
                print(
                    f"rl-train: warning: cannot lock {run_dir} ({exc.strerror}: the filesystem "
                    "does not support locks); nothing stops a second process from writing "
                    "this run",
                    file=sys.stderr,
                )
                return cls(run_dir, None)
        me = Holder(os.getpid(), socket.gethostname(), purpose, time.time())
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
        os.fsync(fd)
        return cls(run_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
