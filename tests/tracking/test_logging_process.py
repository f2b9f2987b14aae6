"""The trainer's W&B run lives in a logging process: wandb stays out of the trainer, the
rows still arrive in order, and neither process's death costs the other its data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import cli_env

from rl_train.store import wandb_txlog

# A stand-in for the trainer: a tracker, some rows, then what the test asks for.
TRAINER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from pathlib import Path
    import numpy as np
    from rl_train.store.record import new_run_id
    from rl_train.tracking import client as tracking
    folder, ending = Path(sys.argv[1]), sys.argv[2]
    tracker = tracking.start("offline", new_run_id(), folder, "p", None, "n", {"lr": 1})
    print(json.dumps({"pid": tracker._process.pid, "sync_dir": str(tracker.sync_dir)}), flush=True)
    for step in range(1, 6):
        tracker.log({"loss": 1.0 / step, "weights": np.arange(10.0 * step)}, step=100 * step)
    tracker.flush()
    if ending == "kill-trainer":
        os.kill(os.getpid(), signal.SIGKILL)
    if ending == "kill-logger":
        tracker._process.kill()
        tracker._process.wait()
        tracker.log({"loss": 0.0}, step=600)  # a warning, not an exception
        tracker.log({"loss": 0.0}, step=700)
    tracker.finish(exit_code=0)
    print(json.dumps({"wandb_in_trainer": "wandb" in sys.modules, **tracker.timings()}))
    """
)


def run_trainer(tmp_path: Path, ending: str) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-c", TRAINER, str(tmp_path), ending],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    started = json.loads(done.stdout.splitlines()[0])
    return done, started


def the_run_log(started: dict) -> wandb_txlog.RunLog:
    (log_file,) = Path(started["sync_dir"]).glob("run-*.wandb")
    return wandb_txlog.read_run(log_file)


def gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_rows_reach_the_run_in_order_and_wandb_stays_out_of_the_trainer(tmp_path):
    done, started = run_trainer(tmp_path, "finish")
    assert done.returncode == 0, done.stderr
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["wandb_in_trainer"] is False
    assert finished["log_calls"] == 5 and finished["log_process_seconds"] > 0
    run = the_run_log(started)
    assert [row["_step"] for row in run.history] == [100, 200, 300, 400, 500]
    assert [row["loss"] for row in run.history] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert run.history[-1]["weights/_type"] == "histogram"  # binned in the process
    assert len(run.history[-1]["weights/bins"]) == 65
    assert run.exit_code == 0
    assert gone(started["pid"], within_s=1)


def test_a_killed_trainer_leaves_a_finished_run_and_no_logging_process(tmp_path):
    done, started = run_trainer(tmp_path, "kill-trainer")
    assert done.returncode == -signal.SIGKILL
    assert gone(started["pid"], within_s=30), "the logging process outlived its trainer"
    run = the_run_log(started)
    assert [row["_step"] for row in run.history] == [100, 200, 300, 400, 500]
    assert run.exit_code == 1  # finished by the logging process: the trainer did not


def test_a_dead_logging_process_warns_once_and_training_goes_on(tmp_path):
    done, started = run_trainer(tmp_path, "kill-logger")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("the W&B logging process ended") == 1, done.stderr
    assert "TensorBoard and the run's journal keep every row" in done.stderr
    finished = json.loads(done.stdout.splitlines()[-1])
    assert finished["log_calls"] == 5  # rows after its death are not counted as logged


def test_the_session_starts_wandb_without_importing_torch():
    # The CLI starts the W&B run (rl_train/tracking/session.py) before it imports the
    # trainer, so that wandb's start overlaps torch's import; that only works while this
    # stays light.
    probe = (
        "import sys, rl_train.tracking.session; "
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=cli_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    roots = set(json.loads(done.stdout.replace("'", '"')))
    assert "rl_train" in roots
    assert not roots & {"torch", "stable_baselines3", "wandb", "pybullet"}, roots


WANDB_CORE_ENV = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import psutil
    from rl_train.store.record import new_run_id
    from rl_train.tracking import client as tracking
    tracker = tracking.start("offline", new_run_id(), Path(sys.argv[1]), "p", None, "n", {})
    cores = [p for p in psutil.Process(tracker._process.pid).children(recursive=True)
             if "wandb-core" in p.name()]
    print(json.dumps([p.environ().get("GOMAXPROCS") for p in cores]))
    tracker.finish()
    """
)


def test_wandb_core_runs_on_one_os_thread_unless_the_user_says_otherwise(tmp_path):
    # More Go threads only wake up more often on the cores the env workers are pinned to.
    for user_value, expected in ((None, ["1"]), ("2", ["2"])):
        env = cli_env() if user_value is None else cli_env(GOMAXPROCS=user_value)
        if user_value is None:
            env.pop("GOMAXPROCS", None)
        done = subprocess.run(
            [sys.executable, "-c", WANDB_CORE_ENV, str(tmp_path)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected
