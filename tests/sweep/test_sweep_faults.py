"""A sweep's faults on a real local Ray: the driver killed or Ctrl-C'd mid-way and resumed,
and ASHA stopping a poor trial early; every trial stays an ordinary, resumable run."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, start_cli

from rl_train.store import journal, lock
from rl_train.store.wandb_txlog import read_run

pytestmark = pytest.mark.slow

LONG = {
    "use_simple_env": True,
    "n_envs": 8,
    "total_timesteps": 65536,
    "eval_freq": 8192,
    "eval_episodes": 5,
    "checkpoint_freq": 4096,
}


def numbered_checkpoints(run_dir: Path) -> list[int]:
    root = run_dir / "checkpoints"
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_a_stopped_sweep_resumes_each_trial_from_its_checkpoint(tmp_path, stop):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": LONG, "hyperparams": {"n_steps": 128}, "seeds": "0-1"}))
    output = tmp_path / "runs"
    driver = start_cli(
        ["sweep", "--config", str(path), "--name", "cut", "--output-dir", str(output)],
        tmp_path,
        own_group=True,
        stderr=subprocess.STDOUT,
    )
    sweep_dir = output / "cut"
    trials = [sweep_dir / "trial-000-s0", sweep_dir / "trial-001-s1"]
    deadline = time.monotonic() + 240
    while not all(numbered_checkpoints(t) for t in trials):
        assert time.monotonic() < deadline and driver.poll() is None, driver.stdout.read()[-3000:]
        time.sleep(0.5)
    if stop == signal.SIGINT:
        os.killpg(driver.pid, stop)  # Ctrl-C reaches the whole foreground group
    else:
        driver.send_signal(stop)
    first_output, _ = driver.communicate(timeout=180)
    if stop == signal.SIGINT:
        assert driver.returncode == 130, first_output[-3000:]
        assert "rl-train sweep --resume cut" in first_output
    run_ids = {t.name: json.loads((t / "run.json").read_text())["run_id"] for t in trials}
    # A killed driver takes its Ray and the trials with it; their locks go with them.
    deadline = time.monotonic() + 60
    while any(lock.holder(t) is not None for t in trials):
        assert time.monotonic() < deadline, "a trial of the stopped sweep still holds its run"
        time.sleep(0.5)
    cut_at = {t.name: numbered_checkpoints(t)[-1] for t in trials}

    resumed = run_cli(
        ["sweep", "--resume", "cut", "--output-dir", str(output)], cwd=tmp_path, timeout=600
    )
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    text = resumed.stdout + resumed.stderr
    for trial in trials:
        record = json.loads((trial / "run.json").read_text())
        assert (record["state"], record["steps"]) == ("finished", 65536)
        assert record["run_id"] == run_ids[trial.name]
        # Continued from its own checkpoint, not from step 0.
        found = re.search(rf"resuming {trial.name} from step ([\d,]+)", text)
        assert found, text[-4000:]
        assert int(found.group(1).replace(",", "")) >= cut_at[trial.name] > 0
        assert record["sessions"] == 2
        steps = [row["_step"] for row in journal.read_rows(trial / "metrics.jsonl")]
        # An evaluation's row and a rollout's may share a step; a replayed stretch would not
        # keep the steps in order.
        assert steps == sorted(steps) and steps[-1] == 65536, "the journal replays steps"
        ids = {read_run(p).run_id for p in trial.glob("wandb/offline-run-*/run-*.wandb")}
        assert ids == {run_ids[trial.name]}  # one W&B run per trial, across both sessions
    with open(sweep_dir / "trials.csv") as f:
        assert {row["state"] for row in csv.DictReader(f)} == {"finished"}


def test_asha_stops_a_poor_trial_early_and_leaves_it_resumable(tmp_path):
    path = tmp_path / "sweep.yaml"
    base = {**LONG, "total_timesteps": 32768, "eval_freq": 4096}
    path.write_text(
        yaml.safe_dump(
            {
                "base": base,
                "hyperparams": {"n_steps": 128},
                "space": {"learning_rate": {"grid": [1e-6, 1e-3]}},
                "seeds": "0-1",
                "scheduler": {"asha": {"grace_period": 8192, "reduction_factor": 2}},
                "max_concurrent": 1,  # trials in order: the rungs fill the same way each time
            }
        )
    )
    result = run_cli(
        ["sweep", "--config", str(path), "--name", "asha", "--output-dir", str(tmp_path / "runs")],
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "runs" / "asha" / "trials.csv") as f:
        rows = {row["trial"]: row for row in csv.DictReader(f)}
    stopped = [name for name, row in rows.items() if row["state"] == "stopped early"]
    assert stopped, rows
    for name in stopped:
        row = rows[name]
        assert row["learning_rate"] == "1e-06"
        assert int(row["steps"]) < int(row["total_steps"])
        run_dir = tmp_path / "runs" / "asha" / name
        assert json.loads((run_dir / "run.json").read_text())["state"] == "interrupted"
        assert numbered_checkpoints(run_dir)  # saved on the way out: --resume continues it
    good = [row for row in rows.values() if row["learning_rate"] == "0.001"]
    assert [row["state"] for row in good] == ["finished", "finished"]
