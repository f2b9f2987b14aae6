"""--learner and --update-threads through the real CLI: recorded in the run, kept by a
resume (which then continues exactly), and a resume that changes them says it is not exact."""

from __future__ import annotations

import yaml
from conftest import one_error_line, run_cli

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


def test_one_update_thread_by_default_and_0_is_every_core(tmp_path):
    for name, flags, expected in (
        ("s", ["--learner", "sb3"], ("sb3", 1)),
        ("every", ["--update-threads", "0"], ("fast", usable_cores())),
    ):
        done = simple_run(tmp_path, name, 256, *flags)
        assert done.returncode == 0, done.stderr
        saved = yaml.safe_load((tmp_path / "runs" / name / "config.yaml").read_text())
        assert (saved["learner"], saved["update_threads"]) == expected


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
