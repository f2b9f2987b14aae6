"""The forkserver the env workers are forked from, with their imports done once, early.

multiprocessing's forkserver forks every worker from one server process, which by default
imports nothing: each worker then imports numpy, gymnasium, PyBullet and our envs itself
(~0.3 s of CPU each, paid again by the evaluation envs' workers). Preloaded in the server
(worker_imports.py), they are imported once; started from the CLI before the trainer
imports torch (start()), that import runs beside torch's on the other core.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from multiprocessing import forkserver, resource_tracker

PRELOAD = ["rl_train.vec.worker_imports"]


def available() -> bool:
    return "forkserver" in mp.get_all_start_methods()


def configure() -> None:
    """Have the forkserver preload the workers' imports; no effect once it runs."""
    if available():
        mp.get_context("forkserver").set_forkserver_preload(PRELOAD)


def start() -> None:
    """Start the forkserver now (it imports while the caller goes on), preloaded."""
    if available():
        configure()
        forkserver.ensure_running()


def stop() -> None:
    """End the forkserver and the resource tracker it started, and wait for both. The CLI
    leaves by os._exit, past multiprocessing's own clean-up: left alone they would notice
    a moment later, outliving the run in its process group, where a job scheduler or a
    `timeout` wrapper looks. (`_stop` is what CPython's own tests call.)"""
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        with contextlib.suppress(AttributeError, OSError):
            helper._stop()
