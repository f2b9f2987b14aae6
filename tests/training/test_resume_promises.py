"""Every other promise of docs/resume-and-faults.md, through the real CLI: W&B disabled never
imports wandb on resume; a resume from an older checkpoint leaves nothing of the abandoned
future to pick up; flags a resume cannot honour are refused; the docs list the flags the
code lets change; foreign envs continue their random streams and say the resume is not
exact."""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, cli_env, run_cli, run_main_without_wandb
from test_exact_resume import JOB, SMALL_PPO, assert_same_run, run_args, train
from test_resume import history_steps

from rl_train.config.resume import LOCATING, OVERRIDABLE, REFUSED, flag
from rl_train.store import checkpoint

KINEMATIC = [*JOB, "--use-simple-env", "--vec-env", "native", "--keep-checkpoints", "10"]


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory) -> Path:
    """A finished kinematic run with evaluations and many checkpoints."""
    cwd = tmp_path_factory.mktemp("straight")
    (cwd / "ppo.yml").write_text(SMALL_PPO)
    done = train(cwd, run_args("straight", *KINEMATIC))
    assert done.returncode == 0, done.stderr
    return cwd


@pytest.fixture
def straight(tmp_path, trained_once) -> Path:
    """A copy of that run (and its --config file) of the test's own."""
    shutil.copytree(trained_once, tmp_path, dirs_exist_ok=True)
    return tmp_path / "runs" / "straight"


def best_step(run_dir: Path) -> int:
    return int(checkpoint.load_meta(run_dir / "checkpoints" / "best")["step"])


def test_resume_with_wandb_disabled_never_imports_wandb_and_the_history_stays_whole(tmp_path):
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    args = run_args("mixed", *KINEMATIC)
    killed = train(tmp_path, args, fault="rollout:1700")  # offline: W&B rows past 1,536
    assert killed.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "mixed"
    disabled = run_main_without_wandb(
        ["--resume", "runs/mixed", "--wandb-mode", "disabled"],
        cwd=tmp_path,
        code=130,  # stopped by a Ctrl-C mid-rollout
        environ={"RL_TRAIN_FAULT": "rollout:1900:INT"},
    )
    assert disabled.returncode == 0, disabled.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["wandb_cut_pending"] == 1536  # the earlier W&B folder's rows, cut later
    done = train(tmp_path, ["--resume", str(run_dir), "--wandb-mode", "offline"])
    assert done.returncode == 0, done.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["wandb_cut_pending"] is None
    assert history_steps(run_dir) == list(range(128, 3072 + 1, 128)), "every step once"


def test_resume_from_an_older_checkpoint_sets_the_abandoned_future_aside(tmp_path, straight):
    run_dir = tmp_path / "runs" / "older"
    shutil.copytree(straight, run_dir)
    resume_at = 1024
    assert best_step(straight) > resume_at, "the test needs a best chosen after the resume step"
    killed = run_cli(
        ["--resume", f"runs/older/checkpoints/{resume_at}"],
        cwd=tmp_path,
        env=cli_env(RL_TRAIN_FAULT=f"rollout:{resume_at + 4}"),
    )
    assert killed.returncode == -signal.SIGKILL
    (line,) = [x for x in killed.stderr.splitlines() if "moved to" in x]
    assert line.startswith(f"rl-train: resuming from step {resume_at:,}") and "best" in line
    aside = Path(line.split("moved to ")[1].split(",")[0])
    assert (tmp_path / aside / "3072").is_dir() and (tmp_path / aside / "best").is_dir()
    assert checkpoint.list_checkpoints(run_dir / "checkpoints")[-1].name == str(resume_at)
    assert best_step(run_dir) <= resume_at, "the best as it was at the resume step is back"
    for which, step in (("latest", resume_at), ("best", best_step(run_dir))):
        done = run_cli(
            ["eval", "older", "--output-dir", "runs", "--checkpoint", which, "--episodes", "2",
             "--json"],
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["step"] == step
    done = train(tmp_path, ["--resume", str(run_dir)])
    assert done.returncode == 0, done.stderr
    assert_same_run(straight, run_dir)


def test_checkpoints_have_no_latest_file_and_eval_latest_is_what_resume_takes(tmp_path, straight):
    root = straight / "checkpoints"
    assert not (root / "latest").exists()
    newest = checkpoint.list_checkpoints(root)[-1]
    (newest / "model.zip").write_bytes(b"truncated")
    previous = checkpoint.list_checkpoints(root)[-2].name
    done = run_cli(
        ["eval", "straight", "--output-dir", "runs", "--checkpoint", "latest", "--episodes", "2",
         "--json"],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["step"] == int(previous)
    resumed = run_cli(["--resume", str(straight)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from step {int(previous):,}" in resumed.stdout


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--wandb-entity", "someone-else"], "--wandb-entity"),
        (["--run-name", "another"], "--run-name"),
        (["--seed", "7"], "--seed"),
        (["--use-simple-env", "--env", "push"], "--env"),
    ],
)
def test_flags_a_resume_cannot_honour_are_refused_in_one_line(tmp_path, straight, flags, named):
    before = (straight / "run.json").read_text()
    done = run_cli(["--resume", str(straight), "--total-timesteps", "4096", *flags], cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"rl-train: error: {named} differs from the run being resumed")
    assert (straight / "run.json").read_text() == before, "nothing of the run is touched"


def test_a_config_file_changed_since_the_run_started_is_refused(tmp_path, straight):
    same = run_cli(
        ["--resume", str(straight), "--config", "ppo.yml", "--total-timesteps", "3328"],
        cwd=tmp_path,
    )
    assert same.returncode == 0, same.stderr  # the same file, unchanged: fine
    (tmp_path / "ppo.yml").write_text(SMALL_PPO + "learning_rate: 0.01\n")
    changed = run_cli(
        ["--resume", str(straight), "--config", "ppo.yml", "--total-timesteps", "4096"],
        cwd=tmp_path,
    )
    assert changed.returncode == 2
    (line,) = changed.stderr.strip().splitlines()
    assert "--config ppo.yml has changed since run straight started" in line


def documented_flags(marker: str) -> set[str]:
    text = (REPO / "docs" / "resume-and-faults.md").read_text()
    section = re.search(rf"<!-- {marker} -->(.*?)<!-- /{marker} -->", text, re.S)
    assert section, marker
    return set(re.findall(r"`(--[a-z-]+)`", section.group(1)))


def test_the_docs_list_exactly_the_flags_the_code_lets_change_or_refuses():
    from rl_train.cli.train import build_parser

    assert documented_flags("overridable") == {flag(name) for name in OVERRIDABLE}
    assert documented_flags("refused") == {flag(name) for name in REFUSED}
    # Every flag is one or the other, or names the run: none is dropped silently.
    dests = {action.dest for action in build_parser()._actions} - {"help"}
    assert dests <= OVERRIDABLE | REFUSED | LOCATING
    for action in build_parser()._actions:
        if action.dest in OVERRIDABLE | REFUSED and action.dest != "wandb_mode":
            assert flag(action.dest) in action.option_strings


def test_a_foreign_env_resumes_not_exactly_and_says_why(tmp_path):
    (tmp_path / "ppo.yml").write_text(SMALL_PPO)
    args = run_args("foreign", "--env", "panda_gym:PandaReachDense-v3", "--n-envs", "2",
                    "--total-timesteps", "512", "--checkpoint-freq", "256", "--config",
                    "ppo.yml", "--vec-env", "dummy")  # fmt: skip
    killed = train(tmp_path, args, fault="rollout:300")
    assert killed.returncode == -signal.SIGKILL
    done = train(tmp_path, ["--resume", "runs/foreign"])
    assert done.returncode == 0, done.stderr
    assert "not exactly: panda_gym:PandaReachDense-v3 is not one of rl-train's envs" in done.stdout
    record = json.loads((tmp_path / "runs" / "foreign" / "run.json").read_text())
    assert record["resumed_exactly"] is False
    assert "random streams" in record["resume_not_exact_because"]


def test_resumed_foreign_envs_do_not_replay_the_runs_first_episodes():
    """The trainer's own resume path on real panda-gym envs: fresh envs start with the
    run's first goals (seed + rank); after the restore none of them plays it again."""
    from rl_train.config.train_config import TrainConfig
    from rl_train.training import run_state
    from rl_train.training.entry import resolve_config as resolve
    from rl_train.training.model import build_model
    from rl_train.vec.make import make_vec_env

    config = TrainConfig(
        env="panda_gym:PandaReachDense-v3", n_envs=2, vec_env="dummy", wandb_mode="disabled"
    )
    config.hyperparams = {"n_steps": 16, "batch_size": 32}
    resolve(config)

    def goals(venv) -> list[np.ndarray]:
        return [env.unwrapped.task.goal.copy() for env in run_state.layers(venv)[-1].envs]

    venv = make_vec_env(config)
    first = goals(venv)  # the run's first episodes (reset with seed + rank)
    model = build_model(config, venv)
    model.learn(64)
    saved = run_state.capture(model)
    venv.close()

    again = make_vec_env(config)  # a resume builds fresh envs: seed + rank again
    assert all(np.array_equal(a, b) for a, b in zip(goals(again), first, strict=True))
    model.set_env(again)
    why = run_state.restore(model, saved, config.env_id)
    assert why is not None and "not one of rl-train's envs" in why
    after = goals(again)
    assert not any(np.array_equal(a, b) for a, b in zip(after, first, strict=True))
    assert model._last_episode_starts.all(), "SB3 learns from the new episodes' starts"
    again.close()
