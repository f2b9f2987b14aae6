"""The resume plan in-process: which run, which checkpoint, which flags may change."""

from __future__ import annotations

import time

import pytest
from fake_runs import add_checkpoint, fake_run

from rl_train.config.resume import (
    OVERRIDABLE,
    REFUSED,
    latest_unfinished_run,
    locate,
    resume_plan,
)
from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.store.checkpoint import MODEL_FILE


def plan(target: str, output_dir, explicit: set[str] = frozenset(), **cli_fields):
    cli = TrainConfig(output_dir=str(output_dir), **cli_fields)
    run_dir, named = locate(target, cli.output_dir)
    return resume_plan(run_dir, named, cli, set(explicit))


def test_a_run_is_found_by_path_by_name_and_by_checkpoint_dir(tmp_path):
    run_dir = fake_run(tmp_path / "runs", "r1", steps=(1024, 2048))
    for target in (str(run_dir), "r1"):
        config, found = plan(target, tmp_path / "runs")
        assert config.run_name == "r1" and found.step == 2048
        assert config.resume == str(found.path)
    config, found = plan(str(run_dir / "checkpoints" / "1024"), tmp_path / "runs")
    assert found.step == 1024


def test_latest_is_the_newest_unfinished_run_with_or_without_a_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    now = time.time()
    fake_run(runs, "old", started_at=now - 300)
    crashed = fake_run(runs, "crashed", state="crashed", started_at=now - 200)
    fake_run(runs, "done", state="finished", started_at=now - 100)
    assert latest_unfinished_run(runs) == crashed
    early = fake_run(runs, "killed-early", steps=(), state="running", started_at=now)
    assert latest_unfinished_run(runs) == early
    with pytest.raises(UserError, match="no unfinished run"):
        latest_unfinished_run(tmp_path / "elsewhere")


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(tmp_path, capsys):
    run_dir = fake_run(tmp_path / "runs", "r1", steps=(1024, 2048))
    (run_dir / "checkpoints" / "2048" / MODEL_FILE).write_bytes(b"torn")
    _, found = plan("r1", tmp_path / "runs")
    assert found.step == 1024
    assert "checksum" in capsys.readouterr().err


def test_no_valid_checkpoint_restarts_from_step_zero(tmp_path, capsys):
    run_dir = fake_run(tmp_path / "runs", "r1", steps=(1024,))
    (run_dir / "checkpoints" / "1024" / MODEL_FILE).unlink()
    config, found = plan("r1", tmp_path / "runs")
    assert found is None and config.resume == "step 0"
    assert config.run_name == "r1" and config.total_timesteps == 4096
    assert "missing" in capsys.readouterr().err


def test_an_unreadable_config_is_refused(tmp_path):
    run_dir = fake_run(tmp_path / "runs", "r1")
    (run_dir / "config.yaml").write_text("[unclosed")
    with pytest.raises(UserError, match="config.yaml is not valid YAML"):
        plan("r1", tmp_path / "runs")


def test_flags_that_change_the_experiment_are_refused(tmp_path):
    fake_run(tmp_path / "runs", "r1")
    assert {"seed", "env"} <= REFUSED
    with pytest.raises(UserError, match="--seed differs"):
        plan("r1", tmp_path / "runs", {"seed"}, seed=7)
    # The same value typed again is no change.
    plan("r1", tmp_path / "runs", {"seed"}, seed=0)


def test_allowed_overrides_are_applied_and_a_new_n_envs_warns(tmp_path, capsys):
    fake_run(tmp_path / "runs", "r1")
    assert {"total_timesteps", "n_envs"} <= OVERRIDABLE
    explicit = {"total_timesteps", "n_envs", "wandb_mode"}
    config, _ = plan("r1", tmp_path / "runs", explicit, n_envs=8, total_timesteps=10_000)
    assert config.n_envs == 8 and config.wandb_mode == "offline"
    assert config.total_timesteps == 1024 + 18 * 8 * 64  # whole rollouts after step 1,024
    assert "--n-envs 8 instead of 4" in capsys.readouterr().err


def test_a_run_at_its_target_needs_a_larger_one(tmp_path):
    fake_run(tmp_path / "runs", "r1", steps=(4096,))
    with pytest.raises(UserError, match="already reached 4,096"):
        plan("r1", tmp_path / "runs")


def test_a_checkpoint_of_another_env_is_refused(tmp_path):
    run_dir = fake_run(tmp_path / "runs", "r1", steps=(1024,))
    add_checkpoint(run_dir, 2048, "rltrain/PandaPush-v0")
    with pytest.raises(UserError, match="PandaPush-v0"):
        plan("r1", tmp_path / "runs")


@pytest.mark.parametrize("target", ["nowhere", "plain-dir"])
def test_a_target_that_is_not_a_run_says_so(tmp_path, target):
    (tmp_path / "runs" / "plain-dir").mkdir(parents=True)
    with pytest.raises(UserError, match=f"--resume {target}"):
        plan(target, tmp_path / "runs")
