"""`rl-train export` and `rl-train eval --policy`, on real trained policies: PyBullet reach,
the kinematic reach and panda-gym's Dict-observation reach, in both formats. Every file is
loaded back here with its own runtime (onnxruntime, torch.jit) and compared with SB3's
predict, loaded here from the checkpoint: the test does not take the exporter's word."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from conftest import one_error_line, run_cli, run_python, train_test_env
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from rl_train.store import checkpoint

STEPS = "16384"  # a reach that has begun to learn: some episodes succeed, some do not


def train(cwd: Path, name: str, *args: str) -> Path:
    done = run_cli(
        ["--run-name", name, "--output-dir", "runs", "--wandb-mode", "disabled",
         "--n-envs", "4", "--eval-freq", "0", *args],
        cwd=cwd,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / name


@pytest.fixture(scope="module")
def reach(tmp_path_factory) -> Path:
    """A PyBullet reach run (W&B disabled, no evaluation: its policy is the latest)."""
    return train(tmp_path_factory.mktemp("export"), "reach", "--total-timesteps", STEPS)


def export(cwd: Path, *args: str, env: dict | None = None):
    return run_cli(["export", *args, "--output-dir", "runs"], cwd=cwd, timeout=300, env=env)


def sb3_actions(run_dir: Path, env_id: str, episodes: int = 4, env_module: str = ""):
    """(raw observations of `episodes` episodes played by SB3's deterministic policy,
    flattened as the file takes them, and SB3's actions for them)."""
    if env_module:
        __import__(env_module)
    import envs  # noqa: F401

    found = checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]
    model = PPO.load(found / "model.zip", device="cpu")
    norm = VecNormalize.load(
        str(found / "vecnormalize.pkl"), DummyVecEnv([lambda: gym.make(env_id)])
    )
    norm.training = False
    env = gym.make(env_id)
    raw = []
    for episode in range(episodes):
        observation, _ = env.reset(seed=10 + episode)
        done = False
        while not done:
            raw.append(observation)
            batch = _batched([observation])
            action, _ = model.predict(norm.normalize_obs(batch), deterministic=True)
            observation, _, terminated, truncated, _ = env.step(action[0])
            done = terminated or truncated
    env.close()
    batch = _batched(raw)
    actions, _ = model.predict(norm.normalize_obs(batch), deterministic=True)
    return _flat(batch, model.observation_space), actions


def _batched(observations: list):
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


def _flat(batch, space) -> np.ndarray:
    if isinstance(batch, dict):  # the policy's order: its Dict space's keys
        return np.concatenate([batch[key] for key in space.spaces], axis=1).astype(np.float32)
    return batch.astype(np.float32)


def file_actions(path: Path, observations: np.ndarray) -> tuple[np.ndarray, dict]:
    """The file's actions, from its own runtime, and its metadata."""
    if path.suffix == ".onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = json.loads(session.get_modelmeta().custom_metadata_map["rl_train"])
        return session.run(None, {"observation": observations})[0], meta
    import torch

    files = {"rl_train": ""}
    module = torch.jit.load(str(path), _extra_files=files)
    with torch.no_grad():
        return module(torch.as_tensor(observations)).numpy(), json.loads(files["rl_train"])


@pytest.mark.parametrize("name", ["policy.onnx", "policy.pt"])
def test_a_reach_policy_exports_and_acts_as_sb3(reach, name):
    cwd = reach.parent.parent
    done = export(cwd, "reach", "-o", name)
    assert done.returncode == 0, done.stderr
    assert "acts as SB3 on 1,000 observations" in done.stdout
    observations, expected = sb3_actions(reach, "rltrain/PandaReach-v0")
    actions, meta = file_actions(cwd / name, observations)
    assert actions.shape == expected.shape == (200, 3)
    assert np.max(np.abs(actions - expected)) <= 1e-5
    assert np.abs(expected).max() > 0.05, "a policy that acts, not zeros"
    latest = checkpoint.list_checkpoints(reach / "checkpoints")[-1]
    assert meta["env_id"] == "rltrain/PandaReach-v0" and meta["step"] == int(latest.name)
    assert meta["checkpoint_sha256"] == checkpoint.sha256_of(latest / "model.zip")
    assert meta["run_id"] == json.loads((reach / "run.json").read_text())["run_id"]
    assert meta["control_hz"] == 25 and meta["observation"]["size"] == observations.shape[1]
    assert meta["action"]["low"] == [-1.0] * 3 and meta["format"] == Path(name).suffix.strip(
        "."
    ).replace("pt", "torchscript")


def test_eval_policy_scores_the_file_as_its_checkpoint_with_no_torch_loaded(reach):
    cwd = reach.parent.parent
    assert export(cwd, "reach", "-o", "reach.onnx").returncode == 0
    checkpoint_eval = run_cli(["eval", "reach", "--episodes", "24", "--json", "--output-dir",
                               "runs"], cwd=cwd)  # fmt: skip
    assert checkpoint_eval.returncode == 0, checkpoint_eval.stderr
    expected = json.loads(checkpoint_eval.stdout)
    script = (
        "import contextlib, io, json, sys\n"
        "from rl_train.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    code = main(['eval', '--policy', 'reach.onnx', '--episodes', '24', '--json'])\n"
        "assert code == 0, code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(out.getvalue())\n"
    )
    done = run_python(script, cwd=cwd)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["seeds"] == "test" and result["seed"] == expected["seed"]
    assert result["which"] == "exported onnx" and result["step"] == expected["step"]
    # ONNX Runtime rounds the last float bit otherwise than torch (and torch itself, between
    # batch sizes); PyBullet's IK (which stops at a 1 mm residual) can grow that into another
    # ending for an episode on a knife's edge (docs/deploy.md). The same starts, then, and
    # the same score but for such an episode; the kinematic reach below agrees exactly.
    assert abs(result["success_rate"] - expected["success_rate"]) <= 1 / 24 + 1e-9
    assert result["mean_return"] == pytest.approx(expected["mean_return"], abs=0.05)


@pytest.mark.slow  # a run of its own and four evaluations: in CI's slow suite
def test_the_kinematic_reach_exports_and_scores_the_same_in_both_formats(tmp_path):
    run_dir = train(tmp_path, "simple", "--use-simple-env", "--total-timesteps", "4096")
    expected = json.loads(run_cli(["eval", "simple", "--episodes", "16", "--json",
                                   "--output-dir", "runs"], cwd=tmp_path).stdout)  # fmt: skip
    assert 0 < expected["success_rate"] < 1, "the test needs successes and failures"
    for name in ("simple.onnx", "simple.pt"):
        done = export(tmp_path, "simple", "-o", name)
        assert done.returncode == 0, done.stderr
        played = run_cli(["eval", "--policy", name, "--episodes", "16", "--json"], cwd=tmp_path)
        assert played.returncode == 0, played.stderr
        result = json.loads(played.stdout)
        assert result["env_id"] == "rltrain/PandaReachSimple-v0"
        assert result["success_rate"] == expected["success_rate"]
        assert result["mean_return"] == pytest.approx(expected["mean_return"], abs=1e-4)
    observations, actions = sb3_actions(run_dir, "rltrain/PandaReachSimple-v0")
    assert np.max(np.abs(file_actions(tmp_path / "simple.pt", observations)[0] - actions)) <= 1e-5


@pytest.mark.slow  # a panda-gym run of its own: in CI's slow suite
def test_a_panda_gym_dict_observation_policy_exports_and_matches(tmp_path):
    run_dir = train(tmp_path, "pg", "--env", "panda_gym:PandaReachDense-v3", "--n-envs", "2",
                    "--total-timesteps", "512")  # fmt: skip
    done = export(tmp_path, "pg", "-o", "pg.onnx")
    assert done.returncode == 0, done.stderr
    observations, expected = sb3_actions(run_dir, "PandaReachDense-v3", env_module="panda_gym")
    actions, meta = file_actions(tmp_path / "pg.onnx", observations)
    assert np.max(np.abs(actions - expected)) <= 1e-5
    keys = [key for key, _ in meta["observation"]["keys"]]
    assert keys == ["achieved_goal", "desired_goal", "observation"]
    played = run_cli(["eval", "--policy", "pg.onnx", "--episodes", "2", "--json"], cwd=tmp_path)
    assert played.returncode == 0, played.stderr


def test_what_cannot_be_exported_is_one_line_and_nothing_is_written(reach, tmp_path):
    cwd = reach.parent.parent
    line = one_error_line(export(cwd, "reach", "--format", "tflite"))
    assert "invalid choice: 'tflite'" in line
    line = one_error_line(export(cwd, "reach", "-o", "missing/policy.onnx"))
    assert "-o missing/policy.onnx: no directory missing; create it first" in line
    # a checkpoint without its VecNormalize statistics, in a run that normalizes
    latest = checkpoint.list_checkpoints(reach / "checkpoints")[-1]
    bare = tmp_path / "bare"
    import shutil

    shutil.copytree(latest, bare)
    (bare / "vecnormalize.pkl").unlink()
    meta = json.loads((bare / "meta.json").read_text())
    del meta["files"]["vecnormalize.pkl"]
    (bare / "meta.json").write_text(json.dumps(meta))
    line = one_error_line(export(cwd, str(bare), "-o", str(tmp_path / "bare.onnx")))
    assert "has no vecnormalize.pkl, but the run normalizes its observations" in line
    # a policy kind not exported: MultiDiscrete actions
    done, env = train_test_env(tmp_path, "space_envs:SpacesMultiDiscrete-v0",
                               "n_steps: 32\nbatch_size: 64\n", "--n-envs", "2",
                               "--total-timesteps", "64")  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = one_error_line(export(tmp_path, "d", "-o", "d.onnx", env=env))
    assert "cannot export a policy with MultiCategoricalDistribution actions" in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["hp.yml"]
    assert not any(p.name.startswith(".tmp-") for p in cwd.iterdir())


def test_eval_policy_refuses_what_does_not_fit_in_one_line(reach, tmp_path):
    cwd = reach.parent.parent
    line = one_error_line(run_cli(["eval", "--policy", "nothing.onnx"], cwd=cwd))
    assert "nothing.onnx: no such file" in line
    (tmp_path / "fake.onnx").write_bytes(b"not a model")
    line = one_error_line(run_cli(["eval", "--policy", str(tmp_path / "fake.onnx")], cwd=cwd))
    assert "is not a readable onnx file" in line
    assert export(cwd, "reach", "-o", "refuse.onnx").returncode == 0
    line = one_error_line(run_cli(["eval", "--policy", "refuse.onnx", "--video", "x.mp4"],
                                  cwd=cwd))  # fmt: skip
    assert "--video does not go with --policy" in line


@pytest.mark.slow  # 20 episodes in two fresh interpreters: in CI's slow suite
def test_the_deploy_guides_examples_drive_the_env_with_the_exported_files(reach):
    """docs/deploy.md's two programs, as a user copies them, on this run's files."""
    import re

    from conftest import REPO

    cwd = reach.parent.parent
    for name in ("reach.onnx", "reach.pt"):
        assert export(cwd, "reach", "-o", name).returncode == 0
    text = (REPO / "docs" / "deploy.md").read_text()
    programs = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(programs) == 2 and "onnxruntime" in programs[0] and "torch.jit" in programs[1]
    for program in programs:
        done = run_python(program, cwd=cwd)
        assert done.returncode == 0, done.stderr
        assert re.fullmatch(r"\d+/10 episodes succeeded\n", done.stdout), done.stdout


@pytest.mark.slow  # real runs: in CI's slow suite (the default suite stays under 15 min)
def test_eval_policy_plays_another_variant_of_the_task(reach):
    cwd = reach.parent.parent
    assert export(cwd, "reach", "-o", "variant.onnx").returncode == 0
    done = run_cli(["eval", "--policy", "variant.onnx", "--env", "PandaReachSparse-v0",
                    "--episodes", "4", "--seed", "7", "--json"], cwd=cwd)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["env_id"] == "rltrain/PandaReachSparse-v0" and result["seeds"] == "custom"
    assert (result["mean_return"] * 4).is_integer(), "sparse rewards: -1 or 0 a step"


def test_a_file_that_does_not_act_as_sb3_is_refused_and_nothing_is_written(reach, tmp_path):
    """The check has teeth: held to 0 difference, ONNX Runtime's last-bit rounding (about
    5e-7) is too much, and the export refuses with nothing left behind."""
    from rl_train.errors import UserError
    from rl_train.evaluation.policy import find_target
    from rl_train.export.exporter import export_policy

    target = find_target(str(reach), reach.parent, None)
    with pytest.raises(UserError, match=r"differs from SB3's by .* on 1,000 observations"):
        export_policy(target, "onnx", tmp_path / "strict.onnx", tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # a PyBullet pick-and-place run
def test_pick_and_places_bounded_policy_exports_and_acts_as_sb3(tmp_path):
    """BoundedMlpPolicy (its mean squashed into the box) and a gripper action dimension."""
    run_dir = train(tmp_path, "pnp", "--env", "pick_and_place", "--n-envs", "2",
                    "--total-timesteps", "128", "--hyperparams", "n_steps=32",
                    "batch_size=64")  # fmt: skip
    done = export(tmp_path, "pnp", "-o", "pnp.onnx")
    assert done.returncode == 0, done.stderr
    observations, expected = sb3_actions(run_dir, "rltrain/PandaPickAndPlace-v0", episodes=2)
    actions, meta = file_actions(tmp_path / "pnp.onnx", observations)
    assert actions.shape == expected.shape == (100, 4)
    assert np.max(np.abs(actions - expected)) <= 1e-5
