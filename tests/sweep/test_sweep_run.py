"""Real sweeps on a real local Ray instance: kinematic reach trials with tiny budgets, each an
ordinary rl-train run with its offline W&B run, evaluations and report."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import cli_env, run_cli, run_python

from rl_train.store.wandb_txlog import read_run

TINY = {
    "use_simple_env": True,
    "n_envs": 8,
    "total_timesteps": 8192,
    "eval_freq": 2048,
    "eval_episodes": 5,
    "checkpoint_freq": 4096,
}


def write_sweep(tmp_path: Path, **data) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def sweep(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_cli(
        ["sweep", "--output-dir", str(tmp_path / "runs"), *args], cwd=tmp_path, timeout=timeout
    )


def offline_log(run_dir: Path):
    [path] = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    return read_run(path)


def test_a_sweep_runs_its_trials_as_ordinary_runs_and_reports_them(tmp_path):
    # Two batch sizes x two seeds; batch_size 1 is refused by PPO when the trial starts.
    path = write_sweep(
        tmp_path,
        base=TINY,
        hyperparams={"n_steps": 128},
        space={"batch_size": {"grid": [256, 1]}},
        seeds="0-1",
    )
    result = sweep(tmp_path, "--config", str(path), "--name", "bs")
    sweep_dir = tmp_path / "runs" / "bs"

    # The failed trials are reported in one line each and did not stop the others.
    assert result.returncode == 1, result.stderr[-3000:]
    failed = [line for line in result.stderr.splitlines() if line.startswith("rl-train: trial ")]
    assert len(failed) == 2, result.stderr[-3000:]
    assert all("invalid PPO hyperparameters" in line for line in failed), failed
    assert "2 of 4 trials failed" in result.stderr

    for name, seed in (("trial-000-s0", 0), ("trial-002-s1", 1)):
        run_dir = sweep_dir / name
        record = json.loads((run_dir / "run.json").read_text())
        assert (record["state"], record["steps"]) == ("finished", 8192)
        assert record["success_rate"] is not None
        assert (run_dir / "checkpoints" / "best" / "meta.json").is_file()
        log = offline_log(run_dir)
        assert log.run_id == record["run_id"]
        assert log.group == "bs"  # W&B group = the sweep's name
        assert log.config["seed"] == seed
        assert log.config["hyperparams"]["batch_size"] == 256
        eval_steps = [row["_step"] for row in log.history if "eval/success_rate" in row]
        assert eval_steps == [2048, 4096, 6144, 8192], eval_steps

    with open(sweep_dir / "trials.csv") as f:
        rows = {row["trial"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["trial-000-s0", "trial-001-s0", "trial-002-s1", "trial-003-s1"]
    assert rows["trial-000-s0"]["state"] == "finished"
    assert rows["trial-000-s0"]["batch_size"] == "256"
    assert float(rows["trial-002-s1"]["final_success"]) >= 0
    assert "invalid PPO hyperparameters" in rows["trial-001-s0"]["error"]
    report = (sweep_dir / "report.md").read_text()
    assert "| batch_size=256 | 2 | 2 |" in report  # two seeds, both finished, mean ± std
    assert (sweep_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # The trials are runs like any other: runs list and eval take them unchanged.
    listed = run_cli(["runs", "list", "--output-dir", str(sweep_dir), "--json"], cwd=tmp_path)
    states = {run["name"]: run["state"] for run in json.loads(listed.stdout)}
    assert states["trial-000-s0"] == states["trial-002-s1"] == "finished"
    evaluated = run_cli(
        ["eval", "trial-000-s0", "--output-dir", str(sweep_dir), "--episodes", "5", "--json"],
        cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["episodes"] == 5

    # --report reads the same results again, without Ray.
    again = sweep(tmp_path, "--report", "bs")
    assert again.returncode == 0, again.stderr
    assert "trial-002-s1" in again.stdout and "batch_size=256" in again.stdout


def test_a_multi_seed_run_needs_no_sweep_file(tmp_path):
    result = sweep(
        tmp_path,
        "--seeds",
        "3-4",
        "--name",
        "seeds",
        "--",
        "--use-simple-env",
        "--n-envs",
        "8",
        "--total-timesteps",
        "4096",
        "--eval-freq",
        "2048",
        "--eval-episodes",
        "5",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep_dir = tmp_path / "runs" / "seeds"
    for name, seed in (("trial-000-s3", 3), ("trial-001-s4", 4)):
        config = yaml.safe_load((sweep_dir / name / "config.yaml").read_text())
        assert (config["seed"], config["n_envs"], config["total_timesteps"]) == (seed, 8, 4096)
    assert "per configuration" in result.stdout and "base" in result.stdout


def test_env_workers_in_a_ray_trial_are_never_forked():
    # Ray warns against fork() inside its workers; ShmVecEnv's workers come from a
    # forkserver (or spawn) there too, and step the kinematic reach.
    code = """
import os, ray, psutil
ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")

@ray.remote
def build():
    from rl_train.vec.env_factory import EnvFactory
    from rl_train.vec.shm import ShmVecEnv
    venv = ShmVecEnv([EnvFactory("rltrain/PandaReachSimple-v0", 0, r) for r in range(2)], 1)
    try:
        venv.reset()
        parents = [psutil.Process(p.pid).ppid() for p in venv.processes]
        return venv.start_method, parents, os.getpid()
    finally:
        venv.close()

method, parents, task_pid = ray.get(build.remote())
print(method, task_pid not in parents)
"""
    result = run_python(code, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    method, not_forked_from_task = result.stdout.split()[-2:]
    assert method in ("forkserver", "spawn")
    assert not_forked_from_task == "True"


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on loopback, started as a user would (`ray start --head --port P`)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = Path(sys.executable).with_name("ray")
    # Ray gives its head the node's own address (it maps loopback to it), so the traffic
    # stays on this machine; token authentication, as Ray >= 2.59 starts local clusters.
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)]
        + ["--num-cpus", "2", "--include-dashboard", "false", "--block"],
        cwd=tmp_path,
        env=cli_env(RAY_AUTH_MODE="token"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_address_reaches_a_ray_head_started_by_hand(tmp_path, ray_head):
    args = ["sweep", "--output-dir", str(tmp_path / "runs"), "--address", ray_head]
    args += ["--seeds", "0", "--name", "remote", "--", "--use-simple-env", "--n-envs", "8"]
    args += ["--total-timesteps", "2048"]
    deadline = time.monotonic() + 60
    while True:  # the head takes a few seconds to come up
        result = run_cli(args, cwd=tmp_path, env=cli_env(RAY_AUTH_MODE="token"), timeout=300)
        if "no Ray cluster answers" not in result.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "runs" / "remote" / "trial-000-s0" / "run.json").read_text())
    assert record["state"] == "finished"


def test_an_address_with_no_cluster_is_one_line(tmp_path):
    result = sweep(tmp_path, "--address", "127.0.0.1:9", "--seeds", "0", "--", "--use-simple-env")
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rl-train: error: --address 127.0.0.1:9: no Ray cluster answers")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_gpus_per_trial_without_a_gpu_is_one_line(tmp_path):
    result = sweep(
        tmp_path, "--gpus-per-trial", "1", "--seeds", "0", "--name", "gpu", "--", "--use-simple-env"
    )
    if "the Ray cluster has 0 GPUs" not in result.stderr and result.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        "rl-train: error: --gpus-per-trial 1: the Ray cluster has 0 GPUs; drop --gpus-per-trial"
    )
