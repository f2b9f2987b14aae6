"""No process of a run outlives it: however the trainer ends (it finishes, Ctrl-C, SIGTERM,
SIGKILL), its W&B logging process and wandb-core are gone soon after. Offline mode: wandb-core
runs there too."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import alive, run_processes, start_cli

FINISH_TIMEOUT_S = 10
# After the trainer ends: the logging process's own bound, then its kill grace.
GONE_WITHIN_S = FINISH_TIMEOUT_S + 20


def start_training(tmp_path: Path, steps: int) -> tuple[subprocess.Popen, Path]:
    process = start_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", str(steps), "--eval-freq", "0",
         "--run-name", "end", "--wandb-mode", "offline", "--output-dir", "runs",
         "--wandb-finish-timeout", str(FINISH_TIMEOUT_S)],
        tmp_path,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return process, tmp_path / "runs" / "end"


def wait_for_wandb_core(process: subprocess.Popen, run_dir: Path) -> set[int]:
    """The run's processes once its W&B run started and training runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        record = run_dir / "run.json"
        seen = run_processes(process.pid, run_dir)
        names = {_name(pid) for pid in seen}
        if record.exists() and json.loads(record.read_text())["state"] == "running":
            if "wandb-core" in names:
                return seen
        time.sleep(0.2)
    raise AssertionError("the W&B run never started")


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return ""


def assert_all_gone(pids: set[int], run_dir: Path) -> None:
    deadline = time.monotonic() + GONE_WITHIN_S
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = {pid: _name(pid) for pid in alive(pids)}
    assert not left, f"processes of the run left behind: {left}"
    assert not alive(run_processes(0, run_dir)), "a process still names the run dir"


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("ending", "exit_code"),
    [("finish", 0), (signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)],
    ids=["finish", "sigint", "sigterm", "sigkill"],
)
def test_no_process_of_the_run_outlives_the_trainer(tmp_path, ending, exit_code):
    steps = 4096 if ending == "finish" else 10_000_000
    process, run_dir = start_training(tmp_path, steps)
    try:
        seen = wait_for_wandb_core(process, run_dir)
        # Everything started by now and still running belongs to the run: the logging
        # process, wandb-core (in a session of its own), no env workers with --vec-env native.
        seen |= run_processes(process.pid, run_dir)
        assert {"wandb-core"} <= {_name(pid) for pid in seen}
        if ending != "finish":
            process.send_signal(ending)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == exit_code, process.stderr.read()
    assert_all_gone(seen, run_dir)
    if ending == signal.SIGKILL:
        # The logging process saw its trainer go and finished the run on its own.
        (log_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
        from rl_train.store import wandb_txlog

        assert wandb_txlog.read_run(log_file).exit_code == 1


@pytest.mark.timeout(120)
def test_a_logging_process_that_never_answers_is_ended_within_the_bound(tmp_path):
    import os

    from rl_train.store.record import new_run_id
    from rl_train.tracking import client as tracking

    bound = 3.0
    tracker = tracking.start(
        "offline", new_run_id(), tmp_path, "p", None, "n", {"lr": 1}, finish_timeout=bound
    )
    pid = tracker._process.pid
    tree = {pid} | {child.pid for child in psutil.Process(pid).children(recursive=True)}
    assert {"wandb-core"} <= {_name(p) for p in tree}
    tracker.log({"loss": 1.0}, step=1)
    os.kill(pid, signal.SIGSTOP)  # frozen, as one stuck in wandb's retries: it never replies
    started = time.monotonic()
    tracker.finish(exit_code=0)
    took = time.monotonic() - started
    assert tracker.finish_timed_out
    assert took < bound + 2 * tracking.KILL_GRACE_S + 2, took
    assert not alive(tree), {p: _name(p) for p in alive(tree)}


@pytest.mark.timeout(120)
def test_sigterm_ends_the_logging_process_and_wandb_core(tmp_path, capfd):
    import os

    from rl_train.store.record import new_run_id
    from rl_train.tracking import client as tracking

    tracker = tracking.start("offline", new_run_id(), tmp_path, "p", None, "n", {"lr": 1})
    pid = tracker._process.pid
    tree = {pid} | {child.pid for child in psutil.Process(pid).children(recursive=True)}
    os.kill(pid, signal.SIGTERM)  # a user's `kill PID` (it used to be ignored)
    deadline = time.monotonic() + 15
    while alive(tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(tree), {p: _name(p) for p in alive(tree)}
    for step in range(1, 4):  # the trainer trains on: one warning, no exception
        tracker.log({"loss": 1.0}, step=step)
    tracker.finish(exit_code=0)
    assert capfd.readouterr().err.count("the W&B logging process ended") == 1
