"""The sweep file and its trials' configs; the CLI's refusals before Ray starts (no Ray here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import run_cli, run_python

from rl_train.errors import UserError
from rl_train.sweep.spec import SweepSpec, parse_seeds


def spec_of(**data) -> SweepSpec:
    return SweepSpec.from_mapping(data, "sweep file s.yaml")


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-4", [0, 1, 2, 3, 4]),
        ("0,3,7", [0, 3, 7]),
        (3, [3]),
        ([1, 2], [1, 2]),
        ("2-3,9", [2, 3, 9]),
    ],
)
def test_seeds_are_read_as_users_write_them(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["4-1", "a", "-1", "1,1", "1.5"])
def test_bad_seeds_are_refused(text):
    with pytest.raises(UserError, match="seeds"):
        parse_seeds(text)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"spaces": {}}, "unknown key 'spaces'"),
        ({"base": {"learning_rate": 0.1}}, "base key 'learning_rate' is not a training option"),
        ({"base": {"seed": 1}}, "'seed' is the sweep's to set"),
        ({"space": {"run_name": {"grid": ["a"]}}}, "space key 'run_name' is the sweep's"),
        ({"space": {"gamma": {"grid": [0.9], "choice": [1]}}}, "exactly one of"),
        ({"space": {"gamma": {"uniform": [0.99, 0.9]}}}, "low < high"),
        ({"space": {"learning_rate": {"loguniform": [0, 1e-3]}}}, "low > 0"),
        ({"space": {"gamma": {"grid": []}}}, "takes a list"),
        ({"space": {"learning_rate": {"uniform": [1e-4, 1e-3], "schedule": "exp"}}}, "only be lin"),
        ({"scheduler": {"hyperband": {}}}, "scheduler must be"),
        ({"scheduler": {"asha": {"max_t": 5}}}, "grace_period"),
        ({"mode": "best"}, "mode must be max or min"),
        ({"num_samples": 0}, "num_samples must be at least 1"),
    ],
)
def test_sweep_file_mistakes_name_the_key(data, message):
    with pytest.raises(UserError, match=message) as caught:
        spec_of(**data)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("sweep file s.yaml")


def test_a_trial_config_takes_options_hyperparameters_and_schedules(tmp_path):
    spec = spec_of(
        name="lr",
        base={"use_simple_env": True, "n_envs": 4, "total_timesteps": 4096},
        hyperparams={"n_steps": 64},
        space={
            "learning_rate": {"loguniform": [1e-4, 1e-3], "schedule": "lin"},
            "n_epochs": {"grid": [3, 5]},
            "eval_episodes": {"choice": [4, 6]},
        },
        seeds="0-1",
    )
    config, explicit = spec.trial_config(
        {"learning_rate": 3e-4, "n_epochs": 5, "eval_episodes": 6, "seed": 1},
        "trial-003-s1",
        tmp_path,
    )
    assert (config.seed, config.n_envs, config.eval_episodes) == (1, 4, 6)
    assert config.hyperparams == {"n_steps": 64, "learning_rate": "lin_0.0003", "n_epochs": 5}
    assert config.run_dir == tmp_path / "trial-003-s1"
    assert config.wandb_group == "lr"
    assert config.vec_env == "native"  # the kinematic reach's default, as on the CLI
    assert {"use_simple_env", "n_envs", "seed", "eval_episodes"} <= explicit


@pytest.mark.parametrize(
    ("base", "cpus"),
    [
        ({"use_simple_env": True}, 1),  # native: the envs step in the learner's process
        ({"n_envs": 8}, 2),  # shm: one worker per trial unless told, + the learner
        ({"n_envs": 8, "n_workers": 2}, 3),
        ({"n_envs": 4, "vec_env": "subproc"}, 5),  # SB3: a process per env
    ],
)
def test_a_trial_asks_for_its_workers_plus_the_learner(base, cpus, tmp_path):
    spec = spec_of(base=base)
    assert spec.trial_cpus() == cpus
    config, _ = spec.trial_config({}, "trial-000-s0", tmp_path)
    assert config.update_threads == 1  # the default
    # "Every core" (--update-threads 0) is the trial's CPUs, not the machine's
    config, _ = spec_of(base={**base, "update_threads": 0}).trial_config({}, "t", tmp_path)
    assert config.update_threads == cpus


def test_cpus_per_trial_overrides_the_count():
    assert spec_of(base={"n_envs": 8}, cpus_per_trial=0.5).trial_cpus() == 0.5


def test_the_spec_saved_in_the_sweep_folder_reads_back(tmp_path):
    spec = spec_of(
        name="s", base={"use_simple_env": True}, seeds="0-2", space={"gamma": {"grid": [0.9, 0.99]}}
    )
    spec.save(tmp_path)
    assert SweepSpec.load(tmp_path) == spec


# ---------------------------------------------------------------- the CLI, before Ray


def sweep_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(
        ["sweep", "--output-dir", str(tmp_path / "runs"), *args], cwd=tmp_path, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_flags_the_sweep_owns_are_refused(tmp_path):
    result = sweep_cli(tmp_path, "--seeds", "0-1", "--", "--use-simple-env", "--seed", "3")
    assert_one_line_error(result, "--seed after `--` is the sweep's to set")


def test_a_bad_hyperparameter_in_the_space_stops_before_ray(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.safe_dump(
            {"base": {"use_simple_env": True}, "space": {"learnin_rate": {"grid": [1e-3]}}}
        )
    )
    result = sweep_cli(tmp_path, "--config", str(path))
    assert_one_line_error(result, "sweep space: unknown key 'learnin_rate'")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_bad_training_option_stops_before_ray(tmp_path):
    result = sweep_cli(tmp_path, "--seeds", "0", "--", "--env", "stack", "--use-simple-env")
    assert result.returncode == 2 and "stack" in result.stderr, result.stderr


def test_missing_sweep_file_and_missing_sweep(tmp_path):
    assert_one_line_error(
        sweep_cli(tmp_path, "--config", "nope.yaml"), "sweep file nope.yaml does not exist"
    )
    (tmp_path / "runs").mkdir()
    assert_one_line_error(sweep_cli(tmp_path, "--resume", "ghost"), "is not a sweep", "ghost")
    assert_one_line_error(sweep_cli(tmp_path, "--report", "ghost"), "is not a sweep")


def test_a_damaged_sweep_record_is_one_line(tmp_path):
    (tmp_path / "runs" / "cut").mkdir(parents=True)
    (tmp_path / "runs" / "cut" / "sweep.yaml").write_text("base: {env: reach\nspace: [")
    for flag in ("--report", "--resume"):
        assert_one_line_error(
            sweep_cli(tmp_path, flag, "cut"), "sweep.yaml is not valid YAML (line", "restore it"
        )


def test_an_existing_sweep_name_is_refused(tmp_path):
    sweep_dir = tmp_path / "runs" / "taken"
    sweep_dir.mkdir(parents=True)
    spec_of(name="taken").save(sweep_dir)
    result = sweep_cli(tmp_path, "--name", "taken", "--", "--use-simple-env")
    assert_one_line_error(result, "sweep taken already exists", "--resume taken")


def test_without_the_extra_one_line_names_the_install(tmp_path):
    # Ray hidden from the interpreter, as on an install without rl-train[sweep].
    argv = [
        "sweep",
        "--output-dir",
        str(tmp_path / "runs"),
        "--seeds",
        "0",
        "--",
        "--use-simple-env",
    ]
    code = (
        "import sys; sys.modules['ray'] = None; from rl_train.cli.main import main; "
        f"sys.exit(main({argv!r}))"
    )
    result = run_python(code, timeout=120)
    assert_one_line_error(result, "pip install 'rl-train[sweep]'")


def test_the_report_ranks_configurations_by_validation_never_by_the_test():
    """`best` is the validation score of a trial's best checkpoint, `final` its final
    policy's test score: a configuration better on the test but worse on validation comes
    second (choosing on test episodes would bias their score again)."""
    from rl_train.sweep.report import TrialRow, by_config

    rows = [
        TrialRow("t0", {"lr": "a"}, 0, "finished", best_success=0.6, final_success=0.95),
        TrialRow("t1", {"lr": "b"}, 0, "finished", best_success=0.9, final_success=0.80),
    ]
    assert [group["config"] for group in by_config(rows)] == ["lr=b", "lr=a"]


@pytest.mark.parametrize(
    "flag",
    [
        "--num-samples 3",
        "--max-concurrent 1",
        "--cpus-per-trial 1",
        "--gpus-per-trial 1",
        "--name other",
    ],  # fmt: skip
)
def test_a_resumed_sweeps_set_up_cannot_change_and_is_never_dropped(tmp_path, flag):
    result = sweep_cli(tmp_path, "--resume", "s", *flag.split())
    assert_one_line_error(result, f"{flag.split()[0]} cannot change when a sweep resumes")


def test_report_and_resume_together_are_one_line(tmp_path):
    result = sweep_cli(tmp_path, "--resume", "s", "--report", "s")
    assert_one_line_error(result, "--report and --resume go apart")
