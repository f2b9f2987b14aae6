"""`rl-train eval` and evaluation during training, on a real PyBullet reach run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, one_error_line, run_cli, server_get, train_test_env, wandb_files
from fake_runs import fake_run

from rl_train.config.train_config import TEST_SEEDS
from rl_train.evaluation.stats import wilson_interval
from rl_train.store import wandb_txlog
from rl_train.store.record import RunRecord

STEPS = 49_152  # the shipped reach budget: it learns
EVAL_FREQ = 12_288


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The default reach job, with evaluations and their videos during training."""
    cwd = tmp_path_factory.mktemp("eval")
    done = run_cli(
        ["--run-name", "reach", "--output-dir", "runs", "--wandb-mode", "offline",
         "--eval-freq", str(EVAL_FREQ), "--eval-video"],
        cwd=cwd,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd


def eval_cli(cwd: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli(["eval", *args, "--output-dir", "runs"], cwd=cwd, timeout=300, env=env)


@pytest.mark.slow  # 400 evaluation episodes / a panda-gym training: in CI's slow suite
def test_eval_agrees_with_trainings_own_evaluation(trained):
    trained_rate = RunRecord.load(trained / "runs" / "reach").success_rate
    assert trained_rate is not None
    done = eval_cli(trained, "reach", "--checkpoint", "latest", "--episodes", "200", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["step"] == STEPS and result["episodes"] == 200
    # Training played 50 episodes: its rate's 99.9% interval holds the true rate, which a
    # 200-episode evaluation of the same policy estimates closely.
    low, high = wilson_interval(round(trained_rate * 50), 50, z=3.29)
    assert low <= result["success_rate"] <= high
    low95, high95 = result["success_ci95"]
    assert low95 <= result["success_rate"] <= high95
    again = eval_cli(trained, "reach", "--checkpoint", "latest", "--episodes", "200", "--json")
    assert json.loads(again.stdout)["success_rate"] == result["success_rate"]  # same seeds


def test_eval_prints_one_readable_summary(trained):
    done = eval_cli(trained, "reach", "--episodes", "10")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "runs/reach/checkpoints/best (best, step" in lines[0]
    assert lines[1].startswith("  success rate") and "95% CI" in lines[1]
    assert lines[2].startswith("  return") and "±" in lines[2]
    assert lines[3].startswith("  episode length")


def test_video_is_a_real_mp4_of_the_episodes(trained, tmp_path):
    import imageio.v2 as imageio

    out = tmp_path / "reach.mp4"
    done = eval_cli(
        trained, "reach", "--episodes", "4", "--video", str(out), "--video-episodes", "2",
        "--video-size", "320x240",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    reader = imageio.get_reader(out)
    frames = [frame for frame in reader]
    # Per episode: the reset frame, 50 steps, then the last frame held with the outcome.
    assert len(frames) == 2 * (1 + 50 + 12)
    assert frames[0].shape == (240, 320, 3)
    assert reader.get_meta_data()["fps"] == 25
    assert not all(np.array_equal(frames[0], frame) for frame in frames[1:51])
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_training_logs_evaluations_best_checkpoint_and_videos(trained):
    import imageio.v2 as imageio

    run_dir = trained / "runs" / "reach"
    (log_file,) = wandb_files(run_dir)
    log = wandb_txlog.read_run(log_file)
    eval_steps = [row["_step"] for row in log.history if "eval/success_rate" in row]
    assert eval_steps == [12_288, 24_576, 36_864, STEPS]  # every --eval-freq, and the end
    # W&B keeps a video as a file record, its fields flattened into the row. Drawn in the
    # background, each joins the run a little after its evaluation (never before), its
    # caption naming the step of the policy it shows.
    rows = [row for row in log.history if "eval/video/_type" in row]
    assert all(row["eval/video/_type"] == "video-file" for row in rows)
    filmed = [int(row["eval/video/caption"].rsplit(" ", 1)[1].replace(",", "")) for row in rows]
    assert filmed == eval_steps
    assert all(step <= row["_step"] for step, row in zip(filmed, rows, strict=True))
    assert any(name.startswith("media/videos/eval/") for name in log.files)
    videos = sorted((run_dir / "videos").iterdir())
    assert [p.name for p in videos] == sorted(f"eval-{step}.mp4" for step in eval_steps)
    reader = imageio.get_reader(videos[0])
    frames = [frame for frame in reader]  # (its len() is inf: no list())
    assert len(frames) == 1 + 50 + 12 and frames[0].shape == (240, 320, 3)
    meta = json.loads((run_dir / "checkpoints" / "best" / "meta.json").read_text())
    assert meta["step"] in eval_steps and meta["eval"]["episodes"] in (10, 50)
    assert (run_dir / "checkpoints" / "best" / "vecnormalize.pkl").exists()
    journal = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    final = [row for row in journal if row["_step"] == STEPS and "test/success_rate" in row]
    assert final and final[-1]["test/success_rate"] == RunRecord.load(run_dir).success_rate
    shown = run_cli(["runs", "show", "reach", "--output-dir", "runs"], cwd=trained)
    assert "runs/reach/checkpoints/best  (step" in shown.stdout and "success" in shown.stdout
    # The best checkpoint is in the W&B run too (--wandb-checkpoints kept).
    assert (log_file.parent / "files" / "checkpoints" / "best" / "model.zip").exists()


@pytest.mark.online
def test_the_video_reaches_the_server_after_sync(trained, wandb_server):
    done = run_cli(["runs", "sync", "reach", "--output-dir", "runs"], cwd=trained)
    assert done.returncode == 0, done.stderr
    run_id = RunRecord.load(trained / "runs" / "reach").run_id
    files = server_get(wandb_server, f"/api/v1/runs/{run_id}/files")["files"]
    names = {f["name"] for f in files}
    assert any(n.startswith("media/videos/eval/") and n.endswith(".mp4") for n in names)
    assert "checkpoints/best/model.zip" in names


def copy_checkpoint(source: Path, run_dir: Path, name: str) -> Path:
    target = run_dir / "checkpoints" / name
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def push_checkpoint(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("push")
    done = run_cli(
        ["--env", "push", "--n-envs", "2", "--total-timesteps", "512", "--eval-freq", "0",
         "--wandb-mode", "disabled", "--run-name", "p", "--output-dir", "runs"],
        cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "p" / "checkpoints" / "512"


def test_a_checkpoint_of_another_env_is_refused(trained, push_checkpoint, tmp_path):
    run_dir = trained / "runs" / "reach"
    copy_checkpoint(push_checkpoint, run_dir, "99999")
    try:
        line = one_error_line(eval_cli(trained, "reach", "--checkpoint", "99999"))
        assert "PandaPush-v0" in line and "does not belong" in line
    finally:
        shutil.rmtree(run_dir / "checkpoints" / "99999")


def test_a_checkpoint_of_another_observation_shape_is_refused(trained, push_checkpoint):
    run_dir = trained / "runs" / "reach"
    copied = copy_checkpoint(push_checkpoint, run_dir, "99998")
    meta = json.loads((copied / "meta.json").read_text())
    meta["env_id"] = "rltrain/PandaReach-v0"  # claims the run's env; its shapes differ
    (copied / "meta.json").write_text(json.dumps(meta))
    try:
        line = one_error_line(eval_cli(trained, "reach", "--checkpoint", "99998"))
        assert "does not fit the env rltrain/PandaReach-v0" in line
    finally:
        shutil.rmtree(copied)


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_vecnormalize_is_refused(trained, damage):
    run_dir = trained / "runs" / "reach"
    copied = copy_checkpoint(run_dir / "checkpoints" / str(STEPS), run_dir, "99997")
    try:
        if damage == "missing":
            (copied / "vecnormalize.pkl").unlink()
            meta = json.loads((copied / "meta.json").read_text())
            del meta["files"]["vecnormalize.pkl"]
            (copied / "meta.json").write_text(json.dumps(meta))
        else:
            (copied / "vecnormalize.pkl").write_bytes(b"not a pickle")
        line = one_error_line(eval_cli(trained, "reach", "--checkpoint", "99997"))
        assert "vecnormalize.pkl" in line
    finally:
        shutil.rmtree(copied)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--episodes", "0"], "--episodes"),
        (["--episodes", "1000001"], "must be at most 1,000,000"),  # the seed streams' width
        (["--n-envs", "17"], "must be at most 16"),
        (["--video", "no/such/dir/v.mp4"], "no directory"),
        (["--video", "v.avi"], ".mp4"),
        (["--video", "v.mp4", "--video-size", "big"], "WIDTHxHEIGHT"),
        (["--checkpoint", "12345"], "no checkpoint 12345"),
        (["--checkpoint", "soon"], "latest, best or a step"),
    ],
)
def test_bad_input_is_one_line(trained, args, named):
    line = one_error_line(eval_cli(trained, "reach", *args))
    assert named in line
    assert not (trained / "v.mp4").exists()


def test_a_run_without_checkpoints_is_one_line(tmp_path):
    fake_run(tmp_path / "runs", "empty", steps=())
    assert "no valid checkpoint yet" in one_error_line(eval_cli(tmp_path, "empty"))
    line = one_error_line(eval_cli(tmp_path, "empty", "--checkpoint", "best"))
    assert "no best checkpoint" in line


def test_the_kinematic_env_says_it_cannot_film(tmp_path):
    done = run_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", "1024", "--wandb-mode",
         "disabled", "--run-name", "k", "--output-dir", "runs"],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluated = eval_cli(tmp_path, "k", "--episodes", "8", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["episodes"] == 8
    line = one_error_line(eval_cli(tmp_path, "k", "--video", "k.mp4"))
    assert "no renderer" in line and not (tmp_path / "k.mp4").exists()


def test_dict_observations_get_multi_input_policy(tmp_path):
    done, env = train_test_env(
        tmp_path, "shm_helpers:GoalCountdown-v0", "normalize: false\nn_steps: 32\n",
        "--vec-env", "dummy", "--n-envs", "2", "--total-timesteps", "128",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "using MultiInputPolicy" in done.stderr
    evaluated = eval_cli(tmp_path, "d", "--episodes", "6", "--json", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["episodes"] == 6


def eval_json(cwd: Path, *args: str) -> dict:
    done = eval_cli(cwd, "reach", "--episodes", "12", "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_eval_plays_the_same_test_episodes_however_many_envs(trained):
    three, twelve = eval_json(trained, "--n-envs", "3"), eval_json(trained, "--n-envs", "12")
    assert three["seeds"] == twelve["seeds"] == "test" and three["seed"] == TEST_SEEDS
    assert (three["n_envs"], twelve["n_envs"]) == (3, 12)
    assert three["episodes"] == twelve["episodes"] == 12
    assert three["success_rate"] == twelve["success_rate"]
    # The same episodes (test_honest_scores.py checks their starts); the policy's batched
    # arithmetic differs in the last bits with the batch, which 50 steps of physics grow.
    assert three["mean_return"] == pytest.approx(twelve["mean_return"], abs=0.05)


def test_eval_seed_chooses_the_episodes(trained):
    default, custom = eval_json(trained), eval_json(trained, "--seed", "5")
    assert custom["seed"] == 5 and custom["seeds"] == "custom"
    assert custom["mean_return"] == eval_json(trained, "--seed", "5")["mean_return"]
    assert custom["mean_return"] != default["mean_return"]
    done = eval_cli(trained, "reach", "--episodes", "4", "--seed", "1000000")
    assert done.returncode == 0, done.stderr
    assert "the run's validation episodes, which chose best" in done.stdout


def test_eval_stochastic_samples_actions(trained):
    deterministic, stochastic = eval_json(trained), eval_json(trained, "--stochastic")
    assert deterministic["deterministic"] is True and stochastic["deterministic"] is False
    assert stochastic["mean_return"] != deterministic["mean_return"]
    assert "stochastic" in eval_cli(trained, "reach", "--episodes", "2", "--stochastic").stdout


def test_eval_on_an_env_variant(trained):
    sparse = eval_json(trained, "--env", "PandaReachSparse-v0")
    assert sparse["env_id"] == "rltrain/PandaReachSparse-v0"
    # Sparse rewards are -1 or 0 a step: whole-number returns.
    total = sparse["mean_return"] * sparse["episodes"]
    assert total <= 0 and total == pytest.approx(round(total), abs=1e-6)
    line = one_error_line(eval_cli(trained, "reach", "--env", "push"))
    assert "does not fit the env rltrain/PandaPush-v0" in line


def test_eval_with_env_kwargs(trained):
    point = "[0.05,0.05,0.15]"
    one_goal = eval_json(trained, "--env-kwargs", f"goal_low={point}", f"goal_high={point}")
    assert one_goal["env_kwargs"] == {
        "goal_low": [0.05, 0.05, 0.15],
        "goal_high": [0.05, 0.05, 0.15],
    }
    # Every episode has that goal: the deterministic policy plays them all alike (to the
    # last bits of its batched arithmetic, which differ by CPU and 50 steps of physics grow),
    # where the test episodes' own goals spread the returns.
    assert one_goal["std_return"] == pytest.approx(0.0, abs=0.01)
    assert eval_json(trained)["std_return"] > 0.1
    line = one_error_line(eval_cli(trained, "reach", "--env-kwargs", "goal_size=3"))
    assert "'goal_size' is not an option of task 'reach'" in line
    line = one_error_line(eval_cli(trained, "reach", "--env-kwargs", "goal_high"))
    assert "KEY=VALUE" in line


def test_help_says_what_the_video_holds():
    done = run_cli(["eval", "--help"], cwd=REPO)
    assert done.returncode == 0 and "labelled with its" in done.stdout


@pytest.mark.slow  # 400 evaluation episodes / a panda-gym training: in CI's slow suite
def test_a_panda_gym_run_trains_and_evaluates_the_same_way(tmp_path):
    done = run_cli(
        ["--env", "panda_gym:PandaReachDense-v3", "--n-envs", "2", "--total-timesteps", "256",
         "--eval-freq", "0", "--wandb-mode", "disabled", "--run-name", "pg", "--output-dir",
         "runs"],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "using MultiInputPolicy" in done.stderr  # its observations are a Dict
    evaluated = eval_cli(
        tmp_path, "pg", "--episodes", "4", "--video", "pg.mp4", "--video-episodes", "1",
        "--video-size", "240x160", "--json",
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["env_id"] == "panda_gym:PandaReachDense-v3" and result["episodes"] == 4
    assert result["success_rate"] is not None  # panda-gym reports is_success too
    import imageio.v2 as imageio

    frames = [frame for frame in imageio.get_reader(tmp_path / "pg.mp4")]
    # panda-gym ends an episode at its success: up to 50 steps, then the held outcome.
    assert len(frames) == result["video"]["frames"] and 1 + 12 < len(frames) <= 1 + 50 + 12
    assert frames[0].shape == (160, 240, 3)
