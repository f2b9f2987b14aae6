"""The PPO model of a run: built from its hyperparameters, or loaded from a checkpoint."""

from __future__ import annotations

import sys

import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv

from rl_train.config import hyperparams
from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.store.checkpoint import Checkpoint
from rl_train.training.policies import POLICIES


class RunPPO(PPO):
    """SB3's PPO, whose time/iterations counts on across a resume (SB3 counts from 0 in
    each learn()). Its model.zip is stock: PPO.load reads it."""

    iterations_before = 0  # rollouts of the run before this session

    def dump_logs(self, iteration: int = 0) -> None:
        super().dump_logs(iteration + self.iterations_before)


def as_schedule(value: float | str) -> float | LinearSchedule:
    """`lin_0.001` (rl-zoo's spelling): decays linearly from 0.001 to 0 over the run.
    SB3's own LinearSchedule pickles into model.zip, so a resume continues it exactly."""
    if isinstance(value, str):
        return LinearSchedule(float(value.removeprefix("lin_")), 0.0, 1.0)
    return value


def torch_device(device: str) -> str:
    """--device as torch takes it."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device  # cuda was checked by resolve / the resume plan


def build_model(config: TrainConfig, venv: VecEnv) -> PPO:
    kwargs = hyperparams.ppo_kwargs(config.hyperparams)
    for key in hyperparams.SCHEDULED_KEYS:
        if key in kwargs:
            kwargs[key] = as_schedule(kwargs[key])
    policy = config.hyperparams.get("policy", hyperparams.DEFAULT_POLICY)
    if isinstance(venv.observation_space, spaces.Dict) and policy == "MlpPolicy":
        # Goal envs (panda-gym's, ours with obs_type="dict") observe a Dict.
        print(
            "rl-train: note: the env's observations are a Dict: using MultiInputPolicy",
            file=sys.stderr,
        )
        policy = "MultiInputPolicy"
    if isinstance(venv.observation_space, spaces.Dict) and policy in POLICIES:
        raise UserError(f"policy {policy} takes flat observations, and the env's are a Dict")
    policy = POLICIES.get(policy, policy)
    rollout_size = hyperparams.rollout_size(config.hyperparams, config.n_envs)
    if hyperparams.value(config.hyperparams, "batch_size") > rollout_size:
        # Few envs make a rollout smaller than a mini-batch: use the whole rollout.
        kwargs["batch_size"] = rollout_size
    try:
        return RunPPO(
            policy, venv, seed=config.seed, device=torch_device(config.device), verbose=0, **kwargs
        )
    except (TypeError, ValueError, AssertionError) as exc:
        raise UserError(f"invalid PPO hyperparameters: {exc}; check --config") from None


def load_model(
    found: Checkpoint, venv: VecEnv, device: str = "cpu", continue_envs: bool = False
) -> PPO:
    """`continue_envs`: the envs are put back where they were (run_state.py), so SB3 keeps
    its last observation instead of resetting them."""
    return RunPPO.load(
        found.model_path, env=venv, device=torch_device(device), force_reset=not continue_envs
    )
