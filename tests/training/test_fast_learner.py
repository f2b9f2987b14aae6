"""The written-out PPO update (training/fast_learner.py) is SB3's PPO.train: from the same
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
from rl_train.training import fast_learner
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
    policy = "MlpPolicy"
    if kwargs.pop("goal_env", False):  # panda-gym's: a Dict observation, MultiInputPolicy
        import panda_gym  # noqa: F401
        from stable_baselines3.common.env_util import make_vec_env

        raw, policy = make_vec_env("PandaReachDense-v3", n_envs=16, seed=0), "MultiInputPolicy"
    else:
        raw = SimpleReachVecEnv(16, seed=0)
    venv = VecNormalize(raw, gamma=0.95)
    model = RunPPO(policy, venv, seed=3, device="cpu", verbose=0, **kwargs)
    # Two rollouts and an update: Adam's moments are not zero, the buffer holds a rollout.
    model.learn(2 * 64 * 16)
    return model


def fast_learner_update(model: RunPPO) -> None:
    """The update the trainer runs with --learner fast --update-threads 2."""
    model.learner, model.update_threads = "fast", 2
    try:
        model.train()
    finally:
        model.learner, model.update_threads = "sb3", 1


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
        {"goal_env": True},
    ],
    ids=[
        "shipped",
        "coefficients",
        "clipped-values",
        "early-stop",
        "schedule",
        "other-nets",
        "dict-observations",
    ],  # fmt: skip
)
def test_one_update_equals_sb3s(overrides):
    model = model_after_a_rollout(**overrides)
    assert fast_learner.supports(model) is None
    model._current_progress_remaining = 0.5  # a schedule halfway
    model._saved = {
        "params": copy.deepcopy(model.policy.state_dict()),
        "optimizer": copy.deepcopy(model.policy.optimizer.state_dict()),
        "numpy": np.random.get_state(),
        "n_updates": model._n_updates,
    }
    stock = one_update(model, PPO.train)
    fused = one_update(model, fast_learner_update)
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
        tolerance = 1e-6
        if key == "train/clip_fraction":
            # A count: a ratio within float rounding of 1 +- clip_range may fall on either
            # side of it (seen once in CI, one sample of 4,096). A few samples' worth.
            samples = model.n_steps * model.env.num_envs * model.n_epochs
            tolerance = 3 / samples
        assert fused["logged"][key] == pytest.approx(value, rel=1e-4, abs=tolerance), key


def test_other_policies_take_sb3s_update():
    from gymnasium import spaces

    model = model_after_a_rollout(use_sde=True)
    assert "Gaussian" in fast_learner.supports(model)
    discrete = PPO("MlpPolicy", "CartPole-v1", n_steps=64, device="cpu")
    assert "Box action space" in fast_learner.supports(discrete)
    venv = VecNormalize(SimpleReachVecEnv(4, seed=0))
    from rl_train.training.policies import BoundedMlpPolicy

    bounded = PPO(BoundedMlpPolicy, venv, n_steps=64, batch_size=64, device="cpu")
    assert "_get_action_dist_from_latent" in fast_learner.supports(bounded)
    silu = PPO("MlpPolicy", venv, n_steps=64, policy_kwargs={"activation_fn": torch.nn.SiLU})
    assert "Tanh" in fast_learner.supports(silu)
    assert isinstance(venv.action_space, spaces.Box)


def test_the_fast_learner_takes_the_written_out_update_and_saves_a_stock_model(
    monkeypatch, tmp_path
):
    calls = []
    monkeypatch.setattr(fast_learner, "train", lambda model: calls.append(model))
    venv = VecNormalize(SimpleReachVecEnv(4, seed=0))
    model = RunPPO("MlpPolicy", venv, n_steps=64, batch_size=64, device="cpu")
    model.learn(64 * 4)
    assert calls == []  # the learner a run saved before --learner existed had: SB3's
    model.learner, model.update_threads = "fast", 2
    torch.set_num_threads(1)
    model.learn(64 * 4)
    assert calls == [model]
    assert torch.get_num_threads() == 1  # acting's one thread again after the update
    monkeypatch.undo()
    model.learn(64 * 4)  # the real written-out update: Adam's fused kernel in the saved state
    model.save(tmp_path / "model.zip")
    stock = PPO.load(tmp_path / "model.zip", env=venv, device="cpu")
    assert "learner" not in vars(stock) and "update_threads" not in vars(stock)
    observation = venv.reset()
    np.testing.assert_array_equal(
        stock.predict(observation, deterministic=True)[0],
        model.predict(observation, deterministic=True)[0],
    )
    stock.learn(64 * 4)  # stock SB3 trains on from it


@pytest.mark.parametrize("goal_env", [False, True], ids=["flat", "dict-observations"])
@pytest.mark.parametrize("deterministic", [False, True])
def test_acting_is_the_policys_forward_bit_for_bit(goal_env, deterministic):
    model = model_after_a_rollout(goal_env=goal_env)
    assert fast_learner.supports(model) is None
    obs, _ = model.policy.obs_to_tensor(model._last_obs)
    with torch.no_grad():
        torch.manual_seed(7)
        expected = model.policy(obs, deterministic=deterministic)
        torch.manual_seed(7)
        got = fast_learner.actor(model.policy)(obs, deterministic=deterministic)
    for mine, sb3s in zip(got, expected, strict=True):
        assert mine.shape == sb3s.shape and torch.equal(mine, sb3s)


def test_the_fast_learners_rollout_is_sb3s_bit_for_bit():
    rollouts = []
    for learner in ("sb3", "fast"):
        model = model_after_a_rollout()  # the same seeds: the same model and envs
        model.learner = learner
        model.collect_rollouts(
            model.env, model._init_callback(None), model.rollout_buffer, model.n_steps
        )
        assert "forward" not in vars(model.policy)  # the class's forward again
        buffer = model.rollout_buffer
        rollouts.append((buffer.actions.copy(), buffer.log_probs.copy(), buffer.values.copy()))
    for mine, sb3s in zip(*rollouts, strict=True):
        np.testing.assert_array_equal(mine, sb3s)


def test_the_optimizer_step_is_adams_own_fused_step():
    """The update steps Adam's fused kernel itself (training/fast_learner.py, _Step): the
    same parameters and moments as clip_grad_norm_ and optimizer.step(), bit for bit where
    the norm is under the bound, to float rounding where the gradients are clipped."""
    model = model_after_a_rollout()
    fast_learner.use_fused_adam(model.policy.optimizer, True)
    saved = copy.deepcopy((model.policy.state_dict(), model.policy.optimizer.state_dict()))
    params = list(model.policy.parameters())
    gradients = [torch.randn_like(p) for p in params]
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in gradients])).item()

    def after(step, max_grad_norm) -> list[torch.Tensor]:
        model.policy.load_state_dict(saved[0])
        model.policy.optimizer.load_state_dict(copy.deepcopy(saved[1]))
        fast_learner.use_fused_adam(model.policy.optimizer, True)
        for _ in range(3):
            step(max_grad_norm)
        states = model.policy.optimizer.state.values()
        moments = [t for s in states for t in (s["exp_avg"], s["exp_avg_sq"], s["step"])]
        return [p.detach().clone() for p in params] + [t.clone() for t in moments]

    def sb3s(max_grad_norm):
        for p, g in zip(params, gradients, strict=True):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        model.policy.optimizer.step()

    def written_out(max_grad_norm):
        stepper = fast_learner._Step(model.policy)
        for p, g in zip(params, gradients, strict=True):
            stepper.grads[p].copy_(g)
        stepper.step(max_grad_norm)
        assert stepper._kernel_args is not None  # the kernel itself, not optimizer.step()

    for bound, exact in ((2 * norm, True), (norm / 4, False)):
        for mine, expected in zip(after(written_out, bound), after(sb3s, bound), strict=True):
            if exact:
                assert torch.equal(mine, expected)
            else:
                torch.testing.assert_close(mine, expected, rtol=1e-5, atol=1e-7)


def test_the_updates_tanh_is_torchs_to_float_rounding():
    layer, out = torch.nn.Linear(9, 64), torch.nn.Linear(64, 3)
    x = torch.randn(4096, 9) * 3  # through tanh's curve and out to where it is flat
    with torch.no_grad():
        exact, _ = fast_learner._Net.forward([layer], out, x)
        fast, _ = fast_learner._Net.forward_for_update([layer], out, x)
    assert (fast[1] - exact[1]).abs().max() <= 2e-7
    assert fast[1].abs().max() <= 1.0


def test_hooks_on_the_optimizers_step_still_run():
    model = model_after_a_rollout()
    calls = []
    model.policy.optimizer.register_step_post_hook(lambda *_: calls.append(1))
    fast_learner_update(model)
    assert len(calls) == model.n_epochs * (model.n_steps * model.n_envs // model.batch_size)


@pytest.mark.parametrize("change", ["signature", "meaning"])
def test_a_torch_whose_adam_kernel_changed_gets_optimizer_step(monkeypatch, change):
    """torch._fused_adam_ is private: where this torch's kernel no longer takes _Step's call,
    or steps otherwise, the once-per-process check finds it and the update takes
    optimizer.step() (the same parameters as SB3's), instead of failing or stepping wrong."""
    adam_kernel = fast_learner._adam_kernel

    def changed(params, grads, exp_avgs, exp_avg_sqs, steps, ones, group):
        if change == "signature":
            raise TypeError("_fused_adam_() got an unexpected keyword argument 'found_inf'")
        adam_kernel(params, grads, exp_avgs, exp_avg_sqs, steps, ones, {**group, "eps": 1e-3})

    assert fast_learner._direct_kernel_steps_as_adam()  # this torch: the kernel is Adam's
    monkeypatch.setattr(fast_learner, "_adam_kernel", changed)
    fast_learner._direct_kernel_steps_as_adam.cache_clear()
    try:
        assert not fast_learner._direct_kernel_steps_as_adam()
        model = model_after_a_rollout()
        fast_learner.use_fused_adam(model.policy.optimizer, True)
        params = list(model.policy.parameters())
        optimizer = model.policy.optimizer
        saved = copy.deepcopy((model.policy.state_dict(), optimizer.state_dict()))
        stepper = fast_learner._Step(model.policy)
        for _ in range(2):
            for p in params:
                stepper.grads[p].fill_(0.01)
            stepper.step(max_grad_norm=10.0)
        assert stepper._kernel_args is None  # optimizer.step() each time
        mine = [p.detach().clone() for p in params]

        model.policy.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        for _ in range(2):
            for p in params:
                p.grad = torch.full_like(p, 0.01)
            optimizer.step()
        for ours, sb3s in zip(mine, params, strict=True):
            assert torch.equal(ours, sb3s)
    finally:
        fast_learner._direct_kernel_steps_as_adam.cache_clear()
