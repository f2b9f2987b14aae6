"""Mistakes a user can make end in one line naming the problem and the fix, non-zero exit."""

from __future__ import annotations

import pytest
import torch
from conftest import REPO, run_cli

HAS_CUDA = torch.cuda.is_available()


def one_error_line(done) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env", "NoSuchEnv-v9"], "NoSuchEnv-v9"),
        (["--n-envs", "0"], "--n-envs"),
        (["--n-envs", "many"], "--n-envs"),
        # the training envs' seeds stay below the validation seeds (docs/evaluation.md)
        (["--n-envs", "1000001"], "--n-envs must be at most 1,000,000"),
        (["--total-timesteps", "-5"], "--total-timesteps"),
        (["--wandb-mode", "cloud"], "--wandb-mode"),
        (["--vec-env", "threads"], "--vec-env"),
        (["--vec-env", "native"], "--use-simple-env"),  # native is the kinematic env's only
        (["--config", "missing.yml"], "missing.yml"),
        (["--run-name", "a/b"], "--run-name"),
        (["--device", "tpu"], "--device"),
        pytest.param(
            ["--device", "cuda"],
            "--device cuda: torch sees no CUDA device",
            marks=pytest.mark.skipif(HAS_CUDA, reason="this machine has a CUDA device"),
        ),
        (["--wandb-finish-timeout", "0"], "--wandb-finish-timeout"),
        (["--wandb-finish-timeout", "soon"], "--wandb-finish-timeout"),
    ],
)
def test_bad_flags(tmp_path, args, expected):
    line = one_error_line(run_cli([*args, "--output-dir", "runs"], cwd=tmp_path))
    assert line.startswith("rl-train: error:") and expected in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_bad_key_in_config_file(tmp_path):
    (tmp_path / "hp.yml").write_text("learning_rate: 0.001\nlerning_rate: 0.1\n")
    line = one_error_line(run_cli(["--config", "hp.yml", "--output-dir", "runs"], cwd=tmp_path))
    assert "lerning_rate" in line and "valid keys" in line


def test_invalid_yaml_in_config_file(tmp_path):
    (tmp_path / "hp.yml").write_text("learning_rate: [0.001\n")
    line = one_error_line(run_cli(["--config", "hp.yml", "--output-dir", "runs"], cwd=tmp_path))
    assert "not valid YAML" in line


def test_unwritable_output_dir(tmp_path):
    (tmp_path / "a-file").write_text("not a directory")
    done = run_cli(["--total-timesteps", "1024", "--output-dir", "a-file/runs"], cwd=tmp_path)
    line = one_error_line(done)
    assert "output dir" in line and "--output-dir" in line


def test_existing_run_name_is_not_overwritten(tmp_path):
    run_dir = tmp_path / "runs" / "taken"
    run_dir.mkdir(parents=True)
    (run_dir / "precious.txt").write_text("keep me")
    done = run_cli(["--run-name", "taken", "--output-dir", "runs"], cwd=tmp_path)
    assert "--resume" in one_error_line(done)
    assert (run_dir / "precious.txt").read_text() == "keep me"


RUNS_COMMANDS = ("list", "show", "watch", "export", "plot", "sync", "clean", "dashboard")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["eval", "--help"], ["sweep", "--help"], ["runs", "--help"]]
    + [["runs", command, "--help"] for command in RUNS_COMMANDS],
    ids=lambda args: " ".join(args[:-1]) or "train",
)
def test_every_help_page_prints(args):
    # A bare % in a help text (e.g. "3% of") breaks argparse's formatting of the whole page.
    done = run_cli(args, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: rl-train") and "Traceback" not in done.stderr
