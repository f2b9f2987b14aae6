"""The end-to-end trainer, through the real CLI: SubprocVecEnv workers, PyBullet, wandb."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from conftest import (
    REPO,
    cli_env,
    finished_offline_run,
    only_run_dir,
    run_cli,
    run_main_without_wandb,
    server_get,
    wandb_files,
)

from rl_train.store import checkpoint

STEPS = 2048  # 4 envs x 64 steps = 256 per rollout: 8 rollouts, checkpoints at 1024/2048


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    """One real offline run shared by the tests that inspect what it left."""
    args = ["--n-envs", "4", "--vec-env", "subproc", "--total-timesteps", str(STEPS)]
    return finished_offline_run(
        tmp_path_factory.mktemp("offline"), [*args, "--checkpoint-freq", "1024"]
    )


def test_run_dir_has_config_checkpoints_and_tensorboard(offline_run):
    _, run_dir, _ = offline_run
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["env_id"] == "rltrain/PandaReach-v0"
    assert config["n_envs"] == 4 and config["total_timesteps"] == STEPS
    assert checkpoint.list_checkpoints(run_dir / "checkpoints")[-1].name == str(STEPS)
    for step in (1024, STEPS):
        folder = run_dir / "checkpoints" / str(step)
        assert (folder / "model.zip").stat().st_size > 0
        assert (folder / "vecnormalize.pkl").exists() and (folder / "state.pkl").exists()
        assert json.loads((folder / "meta.json").read_text())["step"] == step
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    record = json.loads((run_dir / "run.json").read_text())
    assert record["state"] == "finished" and record["steps"] == STEPS


def test_wandb_history_holds_sb3_keys_at_increasing_global_steps(offline_run):
    _, _, log = offline_run
    steps = [row["_step"] for row in log.history]
    assert steps == sorted(set(steps)), "one row per global step, increasing"
    assert steps[0] == 256 and steps[-1] == STEPS
    keys = set().union(*log.history)
    for key in (
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "rollout/success_rate",
        "train/loss",
        "train/approx_kl",
        "train/learning_rate",
        "time/fps",
        "time/env_steps_per_s",
        "time/rollout_s",
        "time/update_s",
    ):
        assert key in keys, key
    assert all(row["global_step"] == row["_step"] for row in log.history)
    assert log.exit_code == 0


def test_wandb_run_has_config_code_snapshot_and_checkpoint(offline_run):
    _, _, log = offline_run
    assert log.config["env_id"] == "rltrain/PandaReach-v0"
    assert log.config["hyperparams"]["n_steps"] == 64
    files = set(log.files)
    assert "code/rl_train/training/trainer.py" in files and "code/envs/__init__.py" in files
    assert "code/git.json" in files
    assert f"checkpoints/{STEPS}/model.zip" in files
    assert f"checkpoints/{STEPS}/vecnormalize.pkl" in files


def test_tensorboard_gets_the_same_keys(offline_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir, log = offline_run
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    wandb_keys = set().union(*log.history) - {"_step", "_runtime", "_timestamp", "global_step"}
    # SB3 itself keeps its plain counters out of TensorBoard; everything else is in both.
    sb3_counters = {"time/iterations", "time/time_elapsed", "time/total_timesteps"}
    sb3_counters.add("train/n_updates")
    assert tags <= wandb_keys
    assert wandb_keys - tags <= sb3_counters
    assert [e.step for e in events.Scalars("rollout/ep_rew_mean")][-1] == STEPS


def test_summary_names_run_dir_wandb_dir_and_sync_command(offline_run):
    done, run_dir, _ = offline_run
    assert "run finished" in done.stdout
    assert str(run_dir.name) in done.stdout
    (sync_line,) = [line for line in done.stdout.splitlines() if "sync with:" in line]
    assert sync_line.split("sync with:", 1)[1].strip() == f"rl-train runs sync {run_dir.name}"
    (folder_line,) = [line for line in done.stdout.splitlines() if "W&B offline:" in line]
    assert folder_line.strip().endswith(wandb_files(run_dir)[0].parent.name)
    assert "test success" in done.stdout


def test_disabled_mode_writes_no_wandb_data_and_never_imports_wandb(tmp_path):
    args = ["--n-envs", "2", "--vec-env", "dummy", "--total-timesteps", "256"]
    args += ["--wandb-mode", "disabled", "--output-dir", "runs"]
    done = run_main_without_wandb(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    assert not (run_dir / "wandb").exists() and not (tmp_path / "wandb").exists()
    assert (run_dir / "checkpoints" / "256" / "model.zip").exists()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))


def test_simple_env_defaults_to_the_batched_numpy_vec_env(tmp_path):
    done = run_cli(
        ["--use-simple-env", "--n-envs", "8", "--total-timesteps", "1024", "--output-dir", "runs"],
        cwd=tmp_path,
        env=cli_env(WANDB_MODE="disabled"),
    )
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["vec_env"] == "native" and config["n_envs"] == 8
    assert json.loads((run_dir / "run.json").read_text())["steps"] == 1024


def test_device_auto_trains_on_what_the_machine_has(tmp_path):
    done = run_cli(
        ["--use-simple-env", "--n-envs", "8", "--total-timesteps", "1024", "--device", "auto"]
        + ["--output-dir", "runs"],
        cwd=tmp_path,
        env=cli_env(WANDB_MODE="disabled"),
    )
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["device"] == "auto"
    from stable_baselines3 import PPO

    model = PPO.load(run_dir / "checkpoints" / "1024" / "model.zip", device="cpu")
    assert model.num_timesteps == 1024


def test_wandb_mode_env_var_applies_when_flag_absent(tmp_path):
    done = run_cli(
        ["--n-envs", "2", "--vec-env", "dummy", "--total-timesteps", "128", "--output-dir", "runs"],
        cwd=tmp_path,
        env=cli_env(WANDB_MODE="disabled"),
    )
    assert done.returncode == 0, done.stderr
    assert not (only_run_dir(tmp_path / "runs") / "wandb").exists()


def test_legacy_flag_spellings(tmp_path):
    done = run_cli(
        [
            "--n_envs",
            "2",
            "--vec-env",
            "dummy",
            "--total_timesteps",
            "128",
            "--robot_type",
            "panda",
            "--use_simple_env",
            "--no-use-wandb",
            "--output-dir",
            "runs",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((only_run_dir(tmp_path / "runs") / "config.yaml").read_text())
    assert config["env_id"] == "rltrain/PandaReachSimple-v0"
    assert config["n_envs"] == 2 and config["wandb_mode"] == "disabled"


@pytest.mark.online
def test_online_mode_records_the_run_on_the_server(tmp_path, wandb_server):
    done = run_cli(
        [
            "--n-envs",
            "4",
            "--vec-env",
            "subproc",
            "--total-timesteps",
            "1024",
            "--wandb-mode",
            "online",
            "--wandb-project",
            "rl-train-tests",
            "--output-dir",
            "runs",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads((only_run_dir(tmp_path / "runs") / "run.json").read_text())["run_id"]
    run = server_get(wandb_server, f"/api/v2/runs/{run_id}")["run"]
    assert run["state"] == "finished"
    assert run["config"]["env_id"]["value"] == "rltrain/PandaReach-v0"
    rows = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key=rollout/ep_rew_mean")
    assert [m["step"] for m in rows["metrics"]] == [256, 512, 768, 1024]
    files = {f["name"] for f in server_get(wandb_server, f"/api/v1/runs/{run_id}/files")["files"]}
    assert "checkpoints/1024/model.zip" in files


def test_make_train_and_readme_agree():
    makefile = (REPO / "Makefile").read_text()
    readme = (REPO / "README.md").read_text()
    assert "train: setup" in makefile and "test: setup" in makefile
    quick_start = readme.split("## Quick start", 1)[1][:600]
    assert quick_start.index("make train") < quick_start.index("make test")
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_no_server_fails_fast_with_hint(tmp_path):
    started = time.monotonic()
    done = run_cli(
        ["--wandb-mode", "online", "--total-timesteps", "1024", "--output-dir", "runs"],
        cwd=tmp_path,
        env=cli_env(WANDB_BASE_URL="http://127.0.0.1:9", WANDB_API_KEY="x" * 40),
    )
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert "not reachable" in line and "--wandb-mode offline" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
