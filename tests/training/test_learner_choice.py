"""--learner and --update-threads through the real CLI: recorded in the run, kept by a
resume (which then continues exactly), and a resume that changes them says it is not exact."""

from __future__ import annotations

import subprocess
import sys

import yaml
from conftest import cli_env, one_error_line, run_cli

from rl_train.config.train_config import read_config
from rl_train.machine import usable_cores


def simple_run(tmp_path, name: str, total: int, *extra: str):
    return run_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", str(total),
         "--checkpoint-freq", "256", "--eval-freq", "0", "--wandb-mode", "disabled",
         "--output-dir", "runs", "--run-name", name, *extra],
        cwd=tmp_path,
    )  # fmt: skip


def test_the_learner_is_recorded_and_a_resume_that_changes_its_threads_says_so(tmp_path):
    done = simple_run(tmp_path, "r", 512, "--update-threads", "2")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "r"
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (saved["learner"], saved["update_threads"]) == ("fast", 2)

    done = run_cli(
        ["--resume", str(run_dir), "--total-timesteps", "1024"], cwd=tmp_path
    )  # the run's own learner and threads: exact
    assert done.returncode == 0, done.stderr
    assert "from step 512 of 1,024" in done.stdout and ", exactly" in done.stdout, done.stdout

    done = run_cli(
        ["--resume", str(run_dir), "--total-timesteps", "1536", "--update-threads", "1"],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "not exactly: --update-threads 1 where the run had 2" in done.stdout, done.stdout
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["update_threads"] == 1


def test_sb3s_learner_and_every_core_by_default(tmp_path):
    done = simple_run(tmp_path, "s", 256, "--learner", "sb3")
    assert done.returncode == 0, done.stderr
    saved = yaml.safe_load((tmp_path / "runs" / "s" / "config.yaml").read_text())
    assert (saved["learner"], saved["update_threads"]) == ("sb3", usable_cores())


def test_a_run_from_before_the_choice_resumes_with_sb3s_learner_on_one_thread(tmp_path):
    done = simple_run(tmp_path, "old", 256)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "runs" / "old" / "config.yaml"
    saved = yaml.safe_load(path.read_text())
    del saved["learner"], saved["update_threads"]
    path.write_text(yaml.safe_dump(saved))
    config = read_config(path.parent)
    assert (config.learner, config.update_threads) == ("sb3", 1)


def test_bad_thread_counts_are_one_line(tmp_path):
    line = one_error_line(simple_run(tmp_path, "bad", 256, "--update-threads", "-1"))
    assert "--update-threads" in line


def test_openmp_threads_sleep_while_they_wait_unless_the_user_says_otherwise(tmp_path):
    # Spinning update threads on shared cores made an update 8-30x slower (docs/throughput.md)
    code = (
        "import os, sys\n"
        "from rl_train.cli.main import main\n"
        "main(['config', 'show'])\n"
        "assert 'torch' not in sys.modules\n"  # set before torch (and OpenMP) loads
        "print('policy', os.environ['OMP_WAIT_POLICY'])\n"
    )
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        env = cli_env(HOME=str(tmp_path))
        env.pop("OMP_WAIT_POLICY", None)
        if given:
            env["OMP_WAIT_POLICY"] = given
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert f"policy {expected}" in done.stdout
