"""--log-profile heavy through the real CLI, and wandb telemetry off (the logging-modes
benchmark's own tests are in tests/bench/).

Speed goals live in benchmarks/logging_modes.py; nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import cli_env, finished_offline_run


@pytest.fixture(scope="module")
def heavy_run(tmp_path_factory):
    args = ["--n-envs", "2", "--vec-env", "dummy", "--total-timesteps", "256"]
    _, run_dir, log = finished_offline_run(
        tmp_path_factory.mktemp("heavy"), [*args, "--log-profile", "heavy"]
    )
    return run_dir, log


def test_heavy_profile_writes_episodes_and_histograms_to_tensorboard(heavy_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = heavy_run
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"histograms": 0})
    events.Reload()
    scalars, histograms = set(events.Tags()["scalars"]), set(events.Tags()["histograms"])
    assert {"episode/return", "episode/length", "episode/count"} <= scalars
    assert "rollout/ep_rew_mean" in scalars  # SB3's own keys still there
    assert "episode/return_hist" in histograms
    assert any(tag.startswith("params/") for tag in histograms)
    assert any(tag.startswith("grads/") for tag in histograms)
    # One row per step at which episodes ended: 50-step episodes, 2 envs in lockstep.
    assert [e.step for e in events.Scalars("episode/return")] == [100, 200]


def test_heavy_profile_writes_episodes_and_histograms_to_wandb(heavy_run):
    _, log = heavy_run
    keys = set().union(*log.history)
    assert {"episode/return", "episode/length", "episode/success"} <= keys
    params = {k[: -len("/_type")] for k in keys if k.startswith("params/") and k.endswith("/_type")}
    grads = {k[: -len("/_type")] for k in keys if k.startswith("grads/") and k.endswith("/_type")}
    assert params and grads
    assert any(k.startswith("grad_norm/") for k in keys)
    histogram_row = next(row for row in log.history if "episode/return_hist/_type" in row)
    assert histogram_row["episode/return_hist/_type"] == "histogram"
    assert len(histogram_row["episode/return_hist/bins"]) == 65  # 64 bins
    steps = [row["_step"] for row in log.history]
    assert steps == sorted(steps) and 100 in steps and 256 in steps


def test_the_trainers_own_wandb_work_is_timed(heavy_run):
    # What the benchmark charges to W&B on the trainer's side: its rows and files.
    run_dir, _ = heavy_run
    timings = json.loads((run_dir / "run.json").read_text())["timings"]
    assert timings["wandb_trainer_cpu_s"] > 0
    assert timings["wandb_trainer_s"] >= timings["log_seconds"] > 0


def test_nested_wandb_work_is_timed_once():
    from rl_train.tracking.client import Tracker

    tracker = Tracker("offline", "run-id")
    with tracker.accounted():
        with tracker.accounted():
            _spin(0.2)
    assert tracker.caller_cpu_seconds == pytest.approx(0.2, abs=0.05)
    assert tracker.caller_seconds >= tracker.caller_cpu_seconds * 0.9


# What the logging process does to start and log, then the threads it runs.
TELEMETRY_PROBE = """
import json, sys, threading
from rl_train.store.record import new_run_id
from rl_train.tracking import client, process
spec = client.RunSpec("offline", new_run_id(), sys.argv[1], "p", None, "n", {})
run, _ = process.start_run(spec)
run.log({"loss": 1.0}, step=1)
print(json.dumps(sorted(t.name for t in threading.enumerate())))
run.finish()
"""


@pytest.mark.parametrize("user_setting", [None, "true"])
def test_offline_runs_leave_wandb_telemetry_off_unless_the_user_asks(tmp_path, user_setting):
    # wandb records an OpenTelemetry measurement per run.log and exports it from its own
    # threads; rl-train turns that off (WANDB_ERROR_REPORTING=false) but keeps a user's choice.
    env = cli_env()
    env.pop("WANDB_ERROR_REPORTING", None)
    if user_setting is not None:
        env["WANDB_ERROR_REPORTING"] = user_setting
    done = subprocess.run(
        [sys.executable, "-c", TELEMETRY_PROBE, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    telemetry = [name for name in threads if name.startswith("Otel")]
    assert bool(telemetry) == (user_setting == "true"), threads


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
