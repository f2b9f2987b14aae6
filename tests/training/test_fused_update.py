"""The written-out PPO update (training/fused_update.py) is SB3's PPO.train: from the same
model, rollout and random state, one update of each leaves the same parameters, optimizer
state, update count and logged values (to float rounding)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecNormalize

from envs.simple_vec import SimpleReachVecEnv
from rl_train.training import fused_update
from rl_train.training.model import RunPPO, as_schedule

BASE = {
    "n_steps": 64,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 1e-3,
    "gamma": 0.95,
    "policy_kwargs": {"net_arch": [64, 64]},
}


def model_after_a_rollout(**overrides) -> PPO:
    kwargs = {**BASE, **overrides}
    if isinstance(kwargs["learning_rate"], str):
        kwargs["learning_rate"] = as_schedule(kwargs["learning_rate"])
    venv = VecNormalize(SimpleReachVecEnv(16, seed=0), gamma=0.95)
    model = PPO("MlpPolicy", venv, seed=3, device="cpu", verbose=0, **kwargs)
    # Two rollouts and an update: Adam's moments are not zero, the buffer holds a rollout.
    model.learn(2 * 64 * 16)
    return model


def one_update(model: PPO, update) -> dict:
    """Parameters, optimizer state and logged values after `update`, from a saved state
    restored first (the same minibatch order: the same numpy random state)."""
    state = model._saved
    model.policy.load_state_dict(state["params"])
    model.policy.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
    np.random.set_state(state["numpy"])
    model._n_updates = state["n_updates"]
    model.logger.name_to_value.clear()
    update(model)
    return {
        "params": {k: v.clone() for k, v in model.policy.state_dict().items()},
        "moments": [
            (s["exp_avg"].clone(), s["exp_avg_sq"].clone())
            for s in model.policy.optimizer.state.values()
        ],
        "logged": dict(model.logger.name_to_value),
        "n_updates": model._n_updates,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"ent_coef": 0.01, "vf_coef": 0.7, "max_grad_norm": 0.1},
        {"clip_range_vf": 0.05},
        {"target_kl": 0.01},  # stops early: the same minibatch, the same epoch
        {"normalize_advantage": False, "learning_rate": "lin_3e-4"},
        {"policy_kwargs": {"net_arch": {"pi": [32], "vf": [48, 16]}}},
    ],
    ids=["shipped", "coefficients", "clipped-values", "early-stop", "schedule", "other-nets"],
)
def test_one_update_equals_sb3s(overrides):
    model = model_after_a_rollout(**overrides)
    assert fused_update.supports(model) is None
    model._current_progress_remaining = 0.5  # a schedule halfway
    model._saved = {
        "params": copy.deepcopy(model.policy.state_dict()),
        "optimizer": copy.deepcopy(model.policy.optimizer.state_dict()),
        "numpy": np.random.get_state(),
        "n_updates": model._n_updates,
    }
    stock = one_update(model, PPO.train)
    fused = one_update(model, fused_update.train)
    assert fused["n_updates"] == stock["n_updates"]
    if "target_kl" in overrides:  # it did stop early
        assert stock["n_updates"] - model._saved["n_updates"] < BASE["n_epochs"]
    moved = False
    for name, value in stock["params"].items():
        torch.testing.assert_close(fused["params"][name], value, rtol=1e-5, atol=1e-6)
        moved = moved or not torch.equal(value, model._saved["params"][name])
    assert moved
    for (m1, v1), (m2, v2) in zip(fused["moments"], stock["moments"], strict=True):
        torch.testing.assert_close(m1, m2, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(v1, v2, rtol=1e-5, atol=1e-9)
    assert fused["logged"].keys() == stock["logged"].keys()
    for key, value in stock["logged"].items():
        assert fused["logged"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_other_policies_take_sb3s_update():
    from gymnasium import spaces

    model = model_after_a_rollout(use_sde=True)
    assert "Gaussian" in fused_update.supports(model)
    discrete = PPO("MlpPolicy", "CartPole-v1", n_steps=64, device="cpu")
    assert "Box action space" in fused_update.supports(discrete)
    venv = VecNormalize(SimpleReachVecEnv(4, seed=0))
    from rl_train.training.policies import BoundedMlpPolicy

    bounded = PPO(BoundedMlpPolicy, venv, n_steps=64, batch_size=64, device="cpu")
    assert "_get_action_dist_from_latent" in fused_update.supports(bounded)
    silu = PPO("MlpPolicy", venv, n_steps=64, policy_kwargs={"activation_fn": torch.nn.SiLU})
    assert "Tanh" in fused_update.supports(silu)
    assert isinstance(venv.action_space, spaces.Box)


def test_the_trainer_takes_the_written_out_update_for_its_mlp_policy(monkeypatch):
    calls = []
    monkeypatch.setattr(fused_update, "train", lambda model: calls.append(model))
    venv = VecNormalize(SimpleReachVecEnv(4, seed=0))
    model = RunPPO("MlpPolicy", venv, n_steps=64, batch_size=64, device="cpu")
    model.learn(64 * 4)
    assert calls == [model]
