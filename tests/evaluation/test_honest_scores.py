"""The promises of docs/evaluation.md "Seeds": training, validation and test play episodes
that never meet; `--eval-freq 0` means no evaluation; held starts never count as the task's
success. Real runs of a pick-and-place env that logs how each episode starts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import env_with_test_modules, run_cli, wandb_files

from rl_train.config.train_config import FINAL_EVAL_EPISODES, TEST_SEEDS, VALIDATION_SEEDS
from rl_train.store import wandb_txlog
from rl_train.store.record import RunRecord

ENV = "start_log_env:StartLogPickAndPlace-v0"
EVAL_EPISODES = 4


def start_log_env(log_dir: Path) -> dict[str, str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return env_with_test_modules(START_LOG=str(log_dir))


def episode_starts(log_dir: Path) -> dict[str, list[dict]]:
    """Every logged reset, grouped by the role of the env that played it: an env built
    with a seed below the validation seeds is a training env, the others evaluate."""
    by_env: dict[tuple[str, int], list[dict]] = {}
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            by_env.setdefault((path.stem, entry["env"]), []).append(entry)
    roles: dict[str, list[dict]] = {"training": [], "evaluation": []}
    for resets in by_env.values():
        built_with = resets[0]["seed"]
        roles["training" if built_with < VALIDATION_SEEDS else "evaluation"] += resets[1:]
    return roles


def start(entry: dict) -> tuple:
    return (*entry["goal"], *entry["cube"])


def write_config(tmp_path: Path, held_start: float) -> Path:
    path = tmp_path / "hp.yml"
    path.write_text(f"n_steps: 64\ntrain_env_kwargs:\n  held_start: {held_start}\n")
    return path


def journal(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    """A short pick-and-place run with held starts and evaluations during training, then
    `rl-train eval` of it, each logging its episodes' starts."""
    cwd = tmp_path_factory.mktemp("streams")
    config = write_config(cwd, 0.5)
    done = run_cli(
        ["--env", ENV, "--n-envs", "4", "--total-timesteps", "2048", "--eval-freq", "512",
         "--eval-episodes", str(EVAL_EPISODES), "--config", str(config), "--seed", "3",
         "--wandb-mode", "disabled", "--run-name", "r", "--output-dir", "runs"],
        cwd=cwd,
        env=start_log_env(cwd / "training-log"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluated = run_cli(
        ["eval", "r", "--episodes", "20", "--json", "--output-dir", "runs"],
        cwd=cwd,
        env=start_log_env(cwd / "eval-log"),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    return cwd, json.loads(evaluated.stdout)


def test_training_validation_and_test_episodes_never_meet(evaluated_run):
    cwd, _ = evaluated_run
    roles = episode_starts(cwd / "training-log")
    seed = 3
    training = {start(e) for e in roles["training"]}
    validation_resets = [
        e for e in roles["evaluation"] if e["seed"] is not None and e["seed"] < seed + TEST_SEEDS
    ]
    test_resets = [e for e in roles["evaluation"] if (e["seed"] or 0) >= seed + TEST_SEEDS]
    validation = {start(e) for e in validation_resets}
    test = {start(e) for e in test_resets}
    assert len(training) >= 2048 // 50 and len(validation) == EVAL_EPISODES
    assert len(test) == FINAL_EVAL_EPISODES
    assert not training & validation and not training & test and not validation & test
    # Every evaluation during training played the same validation episodes.
    evaluations = [row for row in journal(cwd / "runs" / "r") if "eval/success_rate" in row]
    assert len(evaluations) >= 2
    assert set(Counter(start(e) for e in validation_resets).values()) == {len(evaluations)}
    assert {e["seed"] for e in validation_resets} == set(
        range(seed + VALIDATION_SEEDS, seed + VALIDATION_SEEDS + EVAL_EPISODES)
    )
    assert {e["seed"] for e in test_resets} == set(
        range(seed + TEST_SEEDS, seed + TEST_SEEDS + FINAL_EVAL_EPISODES)
    )
    # Evaluations play the task's standard starts, whatever the training's.
    assert not any(e["held"] for e in roles["evaluation"])
    assert any(e["held"] for e in roles["training"])


def test_rl_train_eval_plays_the_runs_test_episodes(evaluated_run):
    cwd, result = evaluated_run
    assert result["seeds"] == "test" and result["seed"] == 3 + TEST_SEEDS
    played = [e for e in episode_starts(cwd / "eval-log")["evaluation"] if e["seed"] is not None]
    assert sorted(e["seed"] for e in played) == list(range(3 + TEST_SEEDS, 3 + TEST_SEEDS + 20))
    run_test = {
        start(e)
        for e in episode_starts(cwd / "training-log")["evaluation"]
        if (e["seed"] or 0) >= 3 + TEST_SEEDS
    }
    assert {start(e) for e in played} <= run_test


def test_the_final_and_the_best_policy_are_scored_on_test_episodes(evaluated_run):
    cwd, _ = evaluated_run
    run_dir = cwd / "runs" / "r"
    record = RunRecord.load(run_dir)
    assert record.test["first_seed"] == 3 + TEST_SEEDS
    assert record.test["final"]["episodes"] == FINAL_EVAL_EPISODES
    assert record.success_rate == record.test["final"]["success_rate"]
    best = json.loads((run_dir / "checkpoints" / "best" / "meta.json").read_text())
    assert best["test"]["episodes"] == FINAL_EVAL_EPISODES
    assert best["test"]["success_rate"] == record.test["best"]["success_rate"]
    assert best["eval"]["episodes"] == EVAL_EPISODES  # chosen on validation episodes
    (last,) = [row for row in journal(run_dir) if "test/success_rate" in row]
    assert last["test/success_rate"] == record.success_rate
    assert last["test/best_success_rate"] == best["test"]["success_rate"]
    shown = run_cli(["runs", "show", "r", "--output-dir", "runs"], cwd=cwd)
    assert "(final policy, test episodes)" in shown.stdout
    assert f"over {FINAL_EVAL_EPISODES} test episodes" in shown.stdout


def test_held_starts_are_counted_apart(evaluated_run):
    cwd, _ = evaluated_run
    rows = journal(cwd / "runs" / "r")
    assert any("rollout/success_rate" in row for row in rows)
    assert any("rollout/held_start_success_rate" in row for row in rows)


def test_eval_freq_0_means_no_evaluation_and_held_starts_never_count(tmp_path):
    """Every training episode starts held: rollout/success_rate has nothing to count."""
    done = run_cli(
        ["--env", ENV, "--n-envs", "2", "--total-timesteps", "512", "--eval-freq", "0",
         "--config", str(write_config(tmp_path, 1.0)), "--wandb-mode", "offline",
         "--run-name", "z", "--output-dir", "runs"],
        cwd=tmp_path,
        env=start_log_env(tmp_path / "log"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "z"
    assert not (run_dir / "checkpoints" / "best").exists()
    rows = journal(run_dir)
    assert not any(key.startswith("eval/") for row in rows for key in row)
    (log_file,) = wandb_files(run_dir)
    history = wandb_txlog.read_run(log_file).history
    assert history and not any(key.startswith("eval/") for row in history for key in row)
    assert not any("rollout/success_rate" in row for row in rows)
    assert any("rollout/held_start_success_rate" in row for row in rows)
    record = RunRecord.load(run_dir)
    assert record.rollout_success_rate is None
    assert record.test["final"]["episodes"] == FINAL_EVAL_EPISODES and record.test["best"] is None
    assert "test success" in done.stdout
    # The test ran on envs of its own, with standard starts, on the test seeds.
    roles = episode_starts(tmp_path / "log")
    tested = [e for e in roles["evaluation"] if e["seed"] is not None]
    assert {e["seed"] for e in tested} == set(range(TEST_SEEDS, TEST_SEEDS + FINAL_EVAL_EPISODES))
    assert not any(e["held"] for e in roles["evaluation"])
    assert all(e["held"] for e in roles["training"])
