"""BoundedMlpPolicy: the Gaussian's mean stays inside the action box, and a run that ships with
it (pick-and-place) trains, checkpoints and evaluates through the real CLI."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import only_run_dir, run_cli
from gymnasium import spaces
from stable_baselines3 import PPO

import envs  # noqa: F401  (registers the ids)
from rl_train.config import hyperparams
from rl_train.training.policies import BoundedMlpPolicy


class BoxEnv(gym.Env):
    """One step of nothing, over an asymmetric action box."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    action_space = spaces.Box(
        np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32), dtype=np.float32
    )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(3, dtype=np.float32), 0.0, True, False, {}


@pytest.mark.parametrize("bias", [-50.0, 0.0, 50.0])
def test_the_mean_stays_inside_the_box_however_far_the_network_pushes_it(bias):
    model = PPO(BoundedMlpPolicy, BoxEnv(), n_steps=8, batch_size=8, seed=0)
    with torch.no_grad():
        model.policy.action_net.bias.fill_(bias)
        observations = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (64, 3)))
        mean = model.policy.get_distribution(observations.float()).distribution.mean.numpy()
    low, high = BoxEnv.action_space.low, BoxEnv.action_space.high
    assert np.all(mean >= low) and np.all(mean <= high)
    expected = {-50.0: low, 0.0: (low + high) / 2, 50.0: high}[bias]
    # (the freshly built network adds a little of its own: SB3 starts it near zero)
    np.testing.assert_allclose(mean, np.broadcast_to(expected, mean.shape), atol=0.02)
    # and the plain MlpPolicy's mean would have gone past the bounds
    plain = PPO("MlpPolicy", BoxEnv(), n_steps=8, batch_size=8, seed=0)
    with torch.no_grad():
        plain.policy.action_net.bias.fill_(bias)
        unbounded = plain.policy.get_distribution(observations.float()).distribution.mean
    if bias:
        assert np.any((unbounded.numpy() < low) | (unbounded.numpy() > high))


def test_an_unbounded_action_space_is_refused():
    class Unbounded(BoxEnv):
        action_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    with pytest.raises(ValueError, match="finite bounds"):
        BoundedMlpPolicy(BoxEnv.observation_space, Unbounded.action_space, lambda _: 3e-4)


def test_pick_and_place_ships_with_it():
    assert hyperparams.shipped("rltrain/PandaPickAndPlace-v0")["policy"] == "BoundedMlpPolicy"


def test_a_pick_and_place_run_trains_with_it_and_evaluates_from_its_checkpoint(tmp_path):
    done = run_cli(
        [
            "--env", "pick_and_place", "--n-envs", "2", "--total-timesteps", "1024",
            "--wandb-mode", "disabled", "--output-dir", "runs", "--eval-freq", "0",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "runs")
    model = PPO.load(run_dir / "checkpoints" / "1024" / "model.zip")
    assert isinstance(model.policy, BoundedMlpPolicy)
    evaluated = run_cli(
        ["eval", str(run_dir), "--episodes", "2", "--json", "--output-dir", "runs"], cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["episodes"] == 2


def test_a_dict_observation_env_is_told_the_policy_takes_flat_ones(tmp_path):
    config = tmp_path / "ppo.yml"
    config.write_text("policy: BoundedMlpPolicy\nn_steps: 64\nbatch_size: 64\n")
    done = run_cli(
        [
            "--env", "panda_gym:PandaReachDense-v3", "--n-envs", "1", "--total-timesteps", "64",
            "--config", str(config), "--wandb-mode", "disabled", "--output-dir", "runs",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "BoundedMlpPolicy takes flat observations" in done.stderr.strip().splitlines()[-1]
