"""When an env worker dies or hangs: the error, its one-line diagnosis, and closing the
envs without waiting on the dead.

ShmVecEnv raises EnvWorkerError itself, naming the env and the cause; SB3's
SubprocVecEnv shows a dead worker only as a broken pipe (WORKER_DEATH), so the
diagnosis reads the worker processes' exit codes.
"""

from __future__ import annotations

import signal
from typing import Any

# What a dead worker looks like from SB3's SubprocVecEnv.
WORKER_DEATH = (EOFError, BrokenPipeError, ConnectionResetError)


class EnvWorkerError(RuntimeError):
    """An env worker died or stopped answering; the message names the env and the cause."""

    def __init__(
        self,
        message: str,
        env_index: int | None = None,
        cause: str = "",
        worker_traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.env_index = env_index
        self.cause = cause
        self.worker_traceback = worker_traceback


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def worker_processes(venv: Any) -> list:
    """The worker processes under a (wrapped) VecEnv: ShmVecEnv's and SubprocVecEnv's."""
    return list(getattr(venv.unwrapped, "processes", []))


def dead_worker_message(venv: Any, exc: BaseException) -> str:
    """One line for a SubprocVecEnv whose worker died (ShmVecEnv says it itself)."""
    dead = []
    for index, process in enumerate(worker_processes(venv)):
        process.join(timeout=1.0)
        code = process.exitcode
        if code is None:
            continue
        if code < 0:
            dead.append(f"env {index} was killed by {signal_name(-code)}")
        else:
            dead.append(f"env {index} raised an exception (its traceback is above)")
    who = "; ".join(dead) if dead else f"an env worker stopped answering ({type(exc).__name__})"
    return f"env worker died: {who}"


def close_quietly(venv: Any, workers_broken: bool) -> None:
    """After a worker died, SB3's close() would wait forever on the others: end them."""
    if workers_broken:
        for process in worker_processes(venv):
            process.terminate()
            process.join(timeout=5)
        return
    try:
        venv.close()
    except (*WORKER_DEATH, OSError):
        for process in worker_processes(venv):
            process.terminate()
