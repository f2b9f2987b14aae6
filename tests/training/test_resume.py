"""Crash safety and exact resume, with real signals to a real training process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env, run_cli, server_get, start_cli, wandb_files

from rl_train.store import checkpoint, wandb_txlog

ROLLOUT = 256  # 4 envs x 64 steps


def wait_for_checkpoint(run_dir: Path, at_least: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        found = checkpoint.list_checkpoints(run_dir / "checkpoints")
        if found and int(found[-1].name) >= at_least:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint >= {at_least} in time")


def train_args(run_name: str, total: int, *extra: str, vec_env: str = "shm") -> list[str]:
    return [
        "--n-envs",
        "4",
        "--vec-env",
        vec_env,
        "--total-timesteps",
        str(total),
        "--checkpoint-freq",
        "1024",
        "--keep-checkpoints",
        "10",
        "--output-dir",
        "runs",
        "--run-name",
        run_name,
        "--wandb-mode",
        "offline",
        *extra,
    ]


def history_steps(run_dir: Path) -> list[int]:
    steps: list[int] = []
    for log_file in sorted(wandb_files(run_dir), key=lambda p: p.parent.name):
        steps.extend(row["_step"] for row in wandb_txlog.read_run(log_file).history)
    return steps


def tensorboard_steps(run_dir: Path, tag: str = "rollout/ep_rew_mean") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def all_checkpoints_valid(run_dir: Path) -> list[int]:
    return [
        checkpoint.validate(path).step
        for path in checkpoint.list_checkpoints(run_dir / "checkpoints")
    ]


# Real signals from outside (Ctrl-C to the whole process group); test_exact_resume.py
# sends them at exact moments and compares the whole run.
@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGINT, 130), pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)],
)
def test_signal_stops_saves_and_resume_finishes_exactly(tmp_path, signum, exit_code):
    run_dir = tmp_path / "runs" / "sig"
    process = start_cli(train_args("sig", 40_960), tmp_path, own_group=True)
    wait_for_checkpoint(run_dir, 1024, process)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # Ctrl-C reaches the workers too
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert "resume with:  rl-train --resume runs/sig" in stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "interrupted"
    stopped_at = record["steps"]
    assert stopped_at % ROLLOUT == 0 and stopped_at >= 1024
    assert all_checkpoints_valid(run_dir)[-1] == stopped_at
    (first_log,) = wandb_files(run_dir)
    assert wandb_txlog.read_run(first_log).exit_code == exit_code  # the W&B run was finished

    target = stopped_at + 2 * ROLLOUT
    done = run_cli(["--resume", str(run_dir), "--total-timesteps", str(target)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "run.json").read_text())["steps"] == target
    steps = history_steps(run_dir)
    assert steps == list(range(ROLLOUT, target + 1, ROLLOUT))
    assert tensorboard_steps(run_dir) == steps
    assert all_checkpoints_valid(run_dir)[-1] == target


@pytest.mark.parametrize(
    ("vec_env", "gap_s"),
    [
        ("shm", 0.05),
        ("subproc", 0.3),
        pytest.param("shm", 0.3, marks=pytest.mark.slow),
        pytest.param("subproc", 0.05, marks=pytest.mark.slow),
    ],
)
def test_second_ctrl_c_aborts_at_once(tmp_path, vec_env, gap_s):
    """Whenever the second Ctrl-C lands (during training, saving or shutdown), the
    process ends promptly with 130 and the checkpoints stay valid."""
    run_dir = tmp_path / "runs" / "abort"
    process = start_cli(train_args("abort", 40_960, vec_env=vec_env), tmp_path, own_group=True)
    wait_for_checkpoint(run_dir, 1024, process)
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(gap_s)
    os.killpg(process.pid, signal.SIGINT)
    started = time.monotonic()
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert time.monotonic() - started < 30
    assert all_checkpoints_valid(run_dir), "periodic checkpoints stay valid"


@pytest.mark.parametrize(
    ("vec_env", "mode", "cause"),
    [
        ("shm", "exception", "exception"),
        ("subproc", "segfault", "SIGSEGV"),
        pytest.param("subproc", "exception", "exception", marks=pytest.mark.slow),
        pytest.param("shm", "segfault", "SIGSEGV", marks=pytest.mark.slow),
    ],
)
def test_dead_worker_names_env_cause_and_resume_point(tmp_path, mode, cause, vec_env):
    """A crash saves nothing new (mid-rollout state is no resume point); the line says
    which checkpoint a resume continues from."""
    done = run_cli(
        [
            "--vec-env",
            vec_env,
            "--env",
            "tests.crash_env:CrashingReach-v0",
            "--n-envs",
            "4",
            "--total-timesteps",
            "8192",
            "--checkpoint-freq",
            "512",
            "--output-dir",
            "runs",
            "--run-name",
            "dies",
            "--wandb-mode",
            "disabled",
        ],
        cwd=tmp_path,
        env=cli_env(CRASH_SEED="2", CRASH_AT_STEP="300", CRASH_MODE=mode),
        timeout=120,
    )
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("rl-train: error")]
    assert "env 2" in line and cause in line
    run_dir = tmp_path / "runs" / "dies"
    record = json.loads((run_dir / "run.json").read_text())
    steps = all_checkpoints_valid(run_dir)
    assert steps == [512, 1024], "the periodic checkpoints before step 1,200, nothing more"
    assert line.endswith("a resume continues from the checkpoint at step 1,024")
    assert record["state"] == "crashed" and record["steps"] == 1024


def test_corrupt_checkpoint_falls_back_with_warning(tmp_path):
    done = run_cli(train_args("corrupt", 3072), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "corrupt"
    newest = run_dir / "checkpoints" / "3072" / "model.zip"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a full disk
    done = run_cli(["--resume", str(run_dir), "--total-timesteps", "4096"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "corrupt" in done.stderr and "older checkpoint" in done.stderr
    assert "from step 2,048" in done.stdout
    assert history_steps(run_dir) == list(range(ROLLOUT, 4096 + 1, ROLLOUT))


def test_no_valid_checkpoint_restarts_from_step_zero(tmp_path):
    done = run_cli(train_args("broken", 1024), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "broken"
    for meta in (run_dir / "checkpoints").glob("*/meta.json"):
        meta.write_text("{not json")
    done = run_cli(["--resume", str(run_dir), "--total-timesteps", "2048"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unreadable" in done.stderr and "restarting it from step 0" in done.stdout
    assert history_steps(run_dir) == list(range(ROLLOUT, 2048 + 1, ROLLOUT))
    assert tensorboard_steps(run_dir) == list(range(ROLLOUT, 2048 + 1, ROLLOUT))


def test_a_run_whose_config_is_unreadable_is_refused(tmp_path):
    done = run_cli(train_args("noconfig", 1024), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "runs" / "noconfig" / "config.yaml").write_text("- not: [a config")
    done = run_cli(["--resume", "runs/noconfig", "--total-timesteps", "2048"], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("rl-train: error:") and "config.yaml" in line


def test_sigkill_before_the_first_checkpoint_then_resume_is_one_run(tmp_path):
    run_dir = tmp_path / "runs" / "early"
    total = 16 * ROLLOUT
    # The kinematic env; only a final checkpoint (the later flag wins).
    args = train_args(
        "early", total, "--use-simple-env", "--checkpoint-freq", "0", vec_env="native"
    )
    first = start_cli(args, tmp_path, own_group=True)
    journal = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not journal.exists() or len(journal.read_text().splitlines()) < 3:
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    assert not any((run_dir / "checkpoints").iterdir())

    done = run_cli(["--resume", "latest", "--output-dir", "runs"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "restarting it from step 0" in done.stdout
    record = json.loads((run_dir / "run.json").read_text())
    assert record["steps"] == total and record["state"] == "finished"
    expected = list(range(ROLLOUT, total + 1, ROLLOUT))
    assert history_steps(run_dir) == expected, "W&B folders together: every step once"
    assert tensorboard_steps(run_dir) == expected
    assert (
        sorted({json.loads(line)["_step"] for line in journal.read_text().splitlines()}) == expected
    )
    assert {wandb_txlog.read_run(f).run_id for f in wandb_files(run_dir)} == {record["run_id"]}


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_is_continuous(tmp_path):
    """Killed mid-checkpoint-write, then mid-rollout, then resumed to the end."""
    run_dir = tmp_path / "runs" / "killed"
    total = 8192
    first = start_cli(
        train_args("killed", total),
        tmp_path,
        env=cli_env(RL_TRAIN_FAULT="checkpoint-write:3072"),
        own_group=True,
    )
    first.communicate(timeout=240)
    assert first.returncode == -signal.SIGKILL
    assert all_checkpoints_valid(run_dir) == [1024, 2048]

    second = start_cli(["--resume", "latest", "--output-dir", "runs"], tmp_path, own_group=True)
    wait_for_checkpoint(run_dir, 5120, second)
    time.sleep(0.5)  # into the next rollout
    os.killpg(second.pid, signal.SIGKILL)
    second.communicate(timeout=60)

    done = run_cli(["--resume", str(run_dir)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((run_dir / "run.json").read_text())["steps"] == total
    assert all_checkpoints_valid(run_dir)[-1] == total
    expected = list(range(ROLLOUT, total + 1, ROLLOUT))
    assert history_steps(run_dir) == expected, "W&B folders together: every step once"
    assert tensorboard_steps(run_dir) == expected
    assert len(wandb_files(run_dir)) == 3
    run_ids = {wandb_txlog.read_run(f).run_id for f in wandb_files(run_dir)}
    assert len(run_ids) == 1


@pytest.mark.slow
@pytest.mark.online
def test_synced_resumed_run_is_one_continuous_history(tmp_path, wandb_server):
    run_dir = tmp_path / "runs" / "synced"
    process = start_cli(train_args("synced", 4096), tmp_path, own_group=True)
    wait_for_checkpoint(run_dir, 2048, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    done = run_cli(["--resume", str(run_dir)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folders = sorted(str(f.parent) for f in wandb_files(run_dir))
    assert len(folders) == 2
    wandb = Path(sys.executable).with_name("wandb")
    synced = subprocess.run(
        [str(wandb), "sync", *folders],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert synced.returncode == 0, synced.stderr
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    rows = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key=global_step")
    steps = [row["step"] for row in rows["metrics"]]
    assert sorted(steps) == list(range(ROLLOUT, 4096 + 1, ROLLOUT))


def test_bad_schedule_in_config_is_one_line(tmp_path):
    (tmp_path / "hp.yml").write_text("learning_rate: fast\n")
    done = run_cli(["--config", "hp.yml", "--output-dir", "runs"], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "learning_rate" in line and "lin_<number>" in line


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="mounts a small tmpfs (root)"
)
def test_full_disk_is_one_line_keeps_checkpoints_and_resumes(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        run_dir = disk / "runs" / "full"
        args = train_args("full", 40_960, "--checkpoint-freq", "256", "--keep-checkpoints", "100")
        args += ["--output-dir", str(disk / "runs"), "--wandb-mode", "disabled"]
        done = run_cli(args, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        (line,) = [x for x in done.stderr.splitlines() if x.startswith("rl-train: error")]
        assert "disk is full" in line and f"--resume {run_dir}" in line
        valid = all_checkpoints_valid(run_dir)  # every complete checkpoint, none corrupt
        assert len(valid) >= 2

        for old in checkpoint.list_checkpoints(run_dir / "checkpoints")[:-1]:
            shutil.rmtree(old)  # the user frees space
        target = valid[-1] + 2 * ROLLOUT
        done = run_cli(
            ["--resume", str(run_dir), "--total-timesteps", str(target), "--keep-checkpoints", "1"],
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert f"from step {valid[-1]:,}" in done.stdout
        assert json.loads((run_dir / "run.json").read_text())["steps"] == target
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
