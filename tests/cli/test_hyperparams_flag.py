"""`--hyperparams KEY=VALUE` (and rl-zoo's `-params KEY:VALUE`) through the real CLI: over
ppo.yml and --config, recorded in config.yaml and in the model; an unknown key named with
its closest valid ones; refused on resume unless it is the run's value; taken by a sweep's
trial flags."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml
from conftest import run_cli

TINY = ["--use-simple-env", "--n-envs", "2", "--total-timesteps", "256", "--eval-freq", "0",
        "--wandb-mode", "disabled", "--output-dir", "runs"]  # fmt: skip


def saved_hyperparams(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "config.yaml").read_text())["hyperparams"]


def test_hyperparams_go_over_the_config_file_into_the_run_and_its_model(tmp_path):
    (tmp_path / "hp.yml").write_text("learning_rate: 0.001\nn_steps: 64\nbatch_size: 64\n")
    done = run_cli(
        [*TINY, "--run-name", "hp", "--config", "hp.yml", "--hyperparams", "n_steps=32",
         "learning_rate=lin_0.002", "policy_kwargs.net_arch=[32,32]", "-params", "gamma:0.9"],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = saved_hyperparams(tmp_path / "runs" / "hp")
    assert saved["n_steps"] == 32 and saved["learning_rate"] == "lin_0.002"
    assert saved["policy_kwargs"]["net_arch"] == [32, 32] and saved["gamma"] == 0.9
    assert saved["batch_size"] == 64  # the file's, where no flag said otherwise
    from stable_baselines3 import PPO

    from rl_train.store import checkpoint

    latest = checkpoint.list_checkpoints(tmp_path / "runs" / "hp" / "checkpoints")[-1]
    model = PPO.load(latest / "model.zip", device="cpu")
    assert model.n_steps == 32 and model.gamma == 0.9
    assert model.policy.mlp_extractor.policy_net[0].out_features == 32


def test_an_unknown_hyperparameter_is_one_line_naming_the_closest_keys(tmp_path):
    done = run_cli([*TINY, "--hyperparams", "learnin_rate=0.1"], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "unknown key 'learnin_rate'; did you mean learning_rate?" in line
    done = run_cli([*TINY, "--hyperparams", "learning_rate"], cwd=tmp_path)
    assert done.returncode == 2 and "expected KEY=VALUE (or KEY:VALUE)" in done.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_a_resume_takes_the_runs_hyperparams_and_refuses_others(tmp_path):
    from conftest import cli_env

    args = [*TINY, "--run-name", "r", "--total-timesteps", "1024", "--checkpoint-freq", "256",
            "--hyperparams", "n_steps=32", "batch_size=64"]  # fmt: skip
    stopped = run_cli(args, cwd=tmp_path, env=cli_env(RL_TRAIN_FAULT="rollout:600:INT"))
    assert stopped.returncode == 128 + signal.SIGINT, stopped.stderr
    refused = run_cli(["--resume", "runs/r", "--hyperparams", "n_steps=64"], cwd=tmp_path)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "--hyperparams n_steps=64 differs from run r's (32)" in line
    same = run_cli(["--resume", "runs/r", "--hyperparams", "n_steps=32"], cwd=tmp_path)
    assert same.returncode == 0, same.stderr
    assert json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["steps"] == 1024


def test_a_sweeps_trial_flags_take_hyperparams(tmp_path):
    """The trial configs a sweep hands Ray (no Ray started: the spec alone)."""
    from rl_train.cli.sweep import _spec_from_args, build_parser
    from rl_train.training.entry import resolve_config as resolve

    args = build_parser().parse_args(["--seeds", "0-1", "--name", "s"])
    spec = _spec_from_args(args, ["--use-simple-env", "--hyperparams", "n_steps=32"])
    config, explicit = spec.trial_config({"seed": 1}, "t", tmp_path)
    resolve(config, cli_n_envs_given="n_envs" in explicit)
    assert config.hyperparams["n_steps"] == 32 and config.seed == 1
