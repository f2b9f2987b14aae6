"""A killed and resumed run ends bit for bit as the run never killed, through the real CLI.

Each test trains one job uninterrupted, and the same job killed again and again at every
kind of moment (RL_TRAIN_FAULT sends the trainer a signal at a named point: before the
first checkpoint, mid-rollout, during an update, during a checkpoint write, at the end of
an evaluation; Ctrl-C and SIGTERM; a dead env worker), each time resumed with
`rl-train --resume`. Then it compares what a user would: the final policy parameters, the
optimizer state, the VecNormalize statistics, the best checkpoint and every metric row
(less the wall-clock ones).
"""

from __future__ import annotations

import json
import pickle
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from conftest import cli_env, run_cli, start_cli
from stable_baselines3 import PPO

from rl_train.store import checkpoint

# time/* keys measure wall-clock time (they differ between any two runs), but these two.
COUNTERS = ("time/iterations", "time/total_timesteps")


def run_args(name: str, *extra: str) -> list[str]:
    return [*extra, "--output-dir", "runs", "--run-name", name, "--wandb-mode", "offline"]


def train(cwd: Path, args: list[str], fault: str | None = None) -> subprocess.CompletedProcess:
    env = cli_env(RL_TRAIN_FAULT=fault) if fault else cli_env()
    return run_cli(args, cwd=cwd, env=env)


def final_checkpoint(run_dir: Path) -> Path:
    return checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]


def metric_rows(run_dir: Path) -> list[dict]:
    rows = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows.append({k: v for k, v in row.items() if not k.startswith("time/") or k in COUNTERS})
    return rows


def assert_same_run(expected: Path, actual: Path) -> None:
    """Bit for bit: parameters, optimizer, VecNormalize, best checkpoint, metric rows."""
    a, b = final_checkpoint(expected), final_checkpoint(actual)
    assert a.name == b.name
    model_a, model_b = PPO.load(a / "model.zip"), PPO.load(b / "model.zip")
    params_a, params_b = model_a.policy.state_dict(), model_b.policy.state_dict()
    for key in params_a:
        assert torch.equal(params_a[key], params_b[key]), f"parameter {key} differs"
    optim_a = model_a.policy.optimizer.state_dict()["state"]
    optim_b = model_b.policy.optimizer.state_dict()["state"]
    for index, state in optim_a.items():
        for name, value in state.items():
            assert torch.equal(value, optim_b[index][name]), f"optimizer {index}.{name} differs"
    if (a / "vecnormalize.pkl").exists():
        norm_a = pickle.loads((a / "vecnormalize.pkl").read_bytes())
        norm_b = pickle.loads((b / "vecnormalize.pkl").read_bytes())
        for stats in ("obs_rms", "ret_rms"):
            for field in ("mean", "var", "count"):
                value_a = getattr(getattr(norm_a, stats), field)
                value_b = getattr(getattr(norm_b, stats), field)
                assert np.array_equal(value_a, value_b), f"VecNormalize {stats}.{field} differs"
    best_a = checkpoint.load_meta(expected / "checkpoints" / "best")
    best_b = checkpoint.load_meta(actual / "checkpoints" / "best")
    assert (best_a["step"], best_a["score"]) == (best_b["step"], best_b["score"])
    rows_a, rows_b = metric_rows(expected), metric_rows(actual)
    assert [r["_step"] for r in rows_a] == [r["_step"] for r in rows_b]
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        assert row_a == row_b, f"metric row at step {row_a['_step']} differs"
    record = json.loads((actual / "run.json").read_text())
    assert record["state"] == "finished" and record["resumed_exactly"] is True


def kill_and_resume(cwd: Path, args: list[str], run_dir: Path, fault: str, code: int) -> str:
    """Run (or resume) with a fault, check how it ended; returns what it printed."""
    first = not run_dir.exists()
    done = train(cwd, args if first else ["--resume", str(run_dir)], fault)
    assert done.returncode == code, (fault, done.returncode, done.stderr[-2000:])
    return done.stdout + done.stderr


def env_worker_pids(trainer: psutil.Process) -> list[int]:
    """The trainer's env workers: children of its multiprocessing forkserver."""
    for child in trainer.children():
        if "forkserver" in " ".join(child.cmdline()):
            return [worker.pid for worker in child.children()]
    return []


def kill_a_worker_after(cwd: Path, run_dir: Path, step: int) -> str:
    """Resume the run, SIGKILL one env worker once it has logged a row past `step`."""
    process = start_cli(["--resume", str(run_dir)], cwd)
    journal = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while max(json.loads(line)["_step"] for line in journal.read_text().splitlines()) <= step:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.02)
    (worker, *_) = env_worker_pids(psutil.Process(process.pid))
    psutil.Process(worker).kill()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    (line,) = [x for x in stderr.splitlines() if x.startswith("rl-train: error")]
    assert "killed by SIGKILL" in line and "a resume continues from the checkpoint" in line
    return stdout + stderr


SLOW = pytest.mark.slow
# 4 envs x 32 steps = 128-step rollouts; checkpoints every 512 steps, evaluations every 512.
# Decaying schedules: a resume must continue them where they stopped.
SMALL_PPO = "n_steps: 32\nbatch_size: 64\nlearning_rate: lin_0.001\nclip_range: lin_0.2\n"
JOB = ["--n-envs", "4", "--total-timesteps", "3072", "--checkpoint-freq", "512"]
JOB += ["--eval-freq", "512", "--eval-episodes", "4", "--config", "ppo.yml"]
# (fault, exit code): each kill lands after the previous resume point.
KILLS = [
    ("rollout:300", -signal.SIGKILL),  # before the first checkpoint: restarts from step 0
    ("update:1152", -signal.SIGKILL),  # after the first gradient step of an update
    ("checkpoint-write:1536", -signal.SIGKILL),  # the checkpoint half written
    ("evaluation:1536", -signal.SIGKILL),  # an evaluation (and its best) done, unsaved
    ("rollout:1700", -signal.SIGKILL),  # mid-rollout
    ("rollout:1900:INT", 130),  # Ctrl-C mid-rollout: stops at the next rollout start
    ("rollout:2200:TERM", 143),  # SIGTERM likewise
]


@pytest.mark.parametrize(
    ("backend", "extra"),
    [
        pytest.param("shm", ["--env", "reach"], id="pybullet-reach-shm"),
        # The other backends (native: the in-process batched env), and variants of control,
        # reward and robot: in the slow suite, which CI runs too
        pytest.param("native", ["--use-simple-env"], id="kinematic-reach-native", marks=SLOW),
        pytest.param(
            "subproc", ["--env", "KukaReachSparse-v0"], id="kuka-sparse-subproc", marks=SLOW
        ),
        pytest.param("dummy", ["--env", "PandaReachJoints-v0"], id="joints-dummy", marks=SLOW),
        pytest.param("shm", ["--env", "reach", "--use-simple-env"], id="kinematic-shm", marks=SLOW),
    ],
)
def test_a_run_killed_at_every_kind_of_moment_ends_as_the_run_never_killed(
    tmp_path, backend, extra
):
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    job = [*JOB, *extra, "--vec-env", backend]
    straight = train(tmp_path, run_args("straight", *job))
    assert straight.returncode == 0, straight.stderr

    run_dir = tmp_path / "runs" / "killed"
    said = [kill_and_resume(tmp_path, run_args("killed", *job), run_dir, f, c) for f, c in KILLS]
    assert "restarting it from step 0" in said[1]
    assert "resuming killed from step 1,024" in said[2] and ", exactly" in said[2]
    assert "stopping" in said[5] or "finishing this rollout" in said[5]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "interrupted" and record["steps"] % 128 == 0
    if backend in ("shm", "subproc"):
        said.append(kill_a_worker_after(tmp_path, run_dir, step=record["steps"] + 128))
    done = train(tmp_path, ["--resume", str(run_dir)])
    assert done.returncode == 0, done.stderr
    assert ", exactly" in done.stdout
    assert_same_run(tmp_path / "runs" / "straight", run_dir)


def test_a_checkpoint_without_env_states_resumes_not_exactly_and_says_why(tmp_path):
    """What the test above proves is not free: a checkpoint as rl-train wrote it before
    exact resume (the RNGs in rng.pkl, no state.pkl) resumes with new episodes, says so,
    and ends elsewhere."""
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    job = [*JOB, "--use-simple-env", "--vec-env", "native"]
    straight = train(tmp_path, run_args("straight", *job))
    assert straight.returncode == 0, straight.stderr
    run_dir = tmp_path / "runs" / "old"
    kill_and_resume(tmp_path, run_args("old", *job), run_dir, "rollout:2200", -signal.SIGKILL)
    newest = final_checkpoint(run_dir)
    rngs = pickle.loads((newest / "state.pkl").read_bytes())["rng"]
    (newest / "rng.pkl").write_bytes(pickle.dumps(rngs))
    (newest / "state.pkl").unlink()
    meta = json.loads((newest / "meta.json").read_text())
    del meta["files"]["state.pkl"]
    meta["files"]["rng.pkl"] = checkpoint.sha256_of(newest / "rng.pkl")
    (newest / "meta.json").write_text(json.dumps(meta))
    done = train(tmp_path, ["--resume", str(run_dir)])
    assert done.returncode == 0, done.stderr
    assert "not exactly: the checkpoint holds no env states" in done.stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert (
        record["resumed_exactly"] is False and "no env states" in record["resume_not_exact_because"]
    )
    with pytest.raises(AssertionError):
        assert_same_run(tmp_path / "runs" / "straight", run_dir)


@pytest.mark.slow
def test_the_backend_may_change_on_resume(tmp_path):
    """Killed on shm, resumed on subproc, then dummy: the env states travel with the run."""
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    job = [*JOB, "--env", "reach", "--vec-env", "shm"]
    straight = train(tmp_path, run_args("straight", *job))
    assert straight.returncode == 0, straight.stderr
    run_dir = tmp_path / "runs" / "moved"
    kill_and_resume(tmp_path, run_args("moved", *job), run_dir, "rollout:1700", -signal.SIGKILL)
    moved = train(tmp_path, ["--resume", str(run_dir), "--vec-env", "subproc"], "rollout:2300")
    assert moved.returncode == -signal.SIGKILL and ", exactly" in moved.stdout
    done = train(tmp_path, ["--resume", str(run_dir), "--vec-env", "dummy"])
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path / "runs" / "straight", run_dir)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["push", "pick_and_place"])
def test_object_tasks_resume_exactly(tmp_path, task):
    """Contacts with the cube, and pick-and-place's held starts (the shipped
    train_env_kwargs, kept under --config), through an update, an evaluation and Ctrl-C."""
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    job = [*JOB, "--env", task, "--vec-env", "shm"]
    straight = train(tmp_path, run_args("straight", *job))
    assert straight.returncode == 0, straight.stderr
    run_dir = tmp_path / "runs" / "killed"
    for fault, code in [KILLS[1], KILLS[3], KILLS[5]]:
        kill_and_resume(tmp_path, run_args("killed", *job), run_dir, fault, code)
    done = train(tmp_path, ["--resume", str(run_dir)])
    assert done.returncode == 0, done.stderr
    assert_same_run(tmp_path / "runs" / "straight", run_dir)
