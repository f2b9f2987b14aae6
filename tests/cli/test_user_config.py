"""`rl-train config`: a default set once (the offline-mode guide's `wandb config --set mode
offline`), through the real CLI: precedence flag > $WANDB_MODE > user config > built-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

TINY = ["--use-simple-env", "--n-envs", "2", "--total-timesteps", "256", "--eval-freq", "0"]


def config_env(tmp_path: Path, **more: str) -> dict[str, str]:
    return cli_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"), **more)


def mode_of(tmp_path: Path, name: str, *flags: str, **env: str) -> str:
    done = run_cli([*TINY, "--run-name", name, *flags], cwd=tmp_path,
                   env=config_env(tmp_path, **env))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())["wandb_mode"]


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_a_mode_set_once_applies_under_the_environment_and_the_flag(tmp_path):
    env = config_env(tmp_path)
    done = run_cli(["config", "set", "wandb-mode", "disabled"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "xdg" / "rl-train" / "config.yaml").is_file()
    assert mode_of(tmp_path, "from-config") == "disabled"
    assert mode_of(tmp_path, "from-env", WANDB_MODE="offline") == "offline"
    assert mode_of(tmp_path, "from-flag", "--wandb_offline", WANDB_MODE="disabled") == "offline"
    shown = run_cli(["config", "show"], cwd=tmp_path, env=env).stdout.splitlines()
    assert shown[0].split()[:2] == ["wandb-mode", "disabled"] and "user config" in shown[0]
    env_shown = run_cli(
        ["config", "show"], cwd=tmp_path, env=config_env(tmp_path, WANDB_MODE="online")
    )
    assert "$WANDB_MODE" in env_shown.stdout.splitlines()[0]
    run_cli(["config", "unset", "wandb-mode"], cwd=tmp_path, env=env)
    assert "built-in default" in run_cli(["config", "show"], cwd=tmp_path, env=env).stdout


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_an_output_dir_and_a_project_set_once_are_every_commands_defaults(tmp_path):
    import yaml

    env = config_env(tmp_path)
    for key, value in (("output-dir", "elsewhere"), ("wandb-project", "arm")):
        assert run_cli(["config", "set", key, value], cwd=tmp_path, env=env).returncode == 0
    done = run_cli([*TINY, "--run-name", "r", "--wandb-mode", "disabled"], cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "elsewhere" / "r" / "run.json").is_file()
    saved = yaml.safe_load((tmp_path / "elsewhere" / "r" / "config.yaml").read_text())
    assert saved["wandb_project"] == "arm"
    listed = run_cli(["runs", "list", "--json"], cwd=tmp_path, env=env)
    assert [run["name"] for run in json.loads(listed.stdout)] == ["r"]
    evaluated = run_cli(["eval", "r", "--episodes", "2", "--json"], cwd=tmp_path, env=env)
    assert evaluated.returncode == 0, evaluated.stderr


def test_a_wrong_setting_or_a_broken_file_is_one_line(tmp_path):
    env = config_env(tmp_path)
    for args, message in (
        (["set", "wandb-mode", "cloud"], "wandb-mode 'cloud': choose one of offline, online"),
        (["set", "colour", "blue"], "unknown setting 'colour'; settings are wandb-mode"),
    ):
        done = run_cli(["config", *args], cwd=tmp_path, env=env)
        assert done.returncode == 2
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"rl-train: error: {message}"), line
    file = tmp_path / "xdg" / "rl-train" / "config.yaml"
    file.parent.mkdir(parents=True)
    file.write_text("wandb-mode: [unclosed\n")
    done = run_cli([*TINY, "--run-name", "x"], cwd=tmp_path, env=env)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert str(file) in line and "is not valid YAML (line 2); fix it or remove it" in line
