"""The PPO model of a run: built from its hyperparameters, or loaded from a checkpoint."""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.utils import LinearSchedule, safe_mean
from stable_baselines3.common.vec_env import VecEnv

from envs.tasks.pick_and_place import HELD_START
from rl_train.config import hyperparams
from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.store.checkpoint import Checkpoint
from rl_train.training import fast_learner
from rl_train.training.policies import POLICIES

HELD_SUCCESS_KEY = "rollout/held_start_success_rate"


class RunPPO(PPO):
    """SB3's PPO, whose time/iterations counts on across a resume (SB3 counts from 0 in
    each learn()), and whose rollout/success_rate counts only the episodes that start as
    the task's standard ones: an episode begun with the cube held (pick-and-place's
    held_start) is easier, and its success goes to rollout/held_start_success_rate. Its
    model.zip is stock: PPO.load reads it."""

    iterations_before = 0  # rollouts of the run before this session
    held_success_buffer: deque | None = None  # saved in model.zip, as SB3's buffers are

    def _setup_learn(
        self, total_timesteps: int, callback=None, reset_num_timesteps=True, *args, **kwargs
    ):
        if self.held_success_buffer is None or reset_num_timesteps:
            self.held_success_buffer = deque(maxlen=self._stats_window_size)
        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, *args, **kwargs)

    def _update_info_buffer(
        self, infos: list[dict[str, Any]], dones: np.ndarray | None = None
    ) -> None:
        if dones is not None and dones.any():
            infos = [
                self._count_held(info) if done else info
                for info, done in zip(infos, dones, strict=True)
            ]
        super()._update_info_buffer(infos, dones)

    def _count_held(self, info: dict[str, Any]) -> dict[str, Any]:
        """An ended episode's info; a held start's success counted apart, and hidden."""
        if not info.get(HELD_START):
            return info
        assert self.held_success_buffer is not None
        self.held_success_buffer.append(info.get("is_success"))
        return {key: value for key, value in info.items() if key != "is_success"}

    # The run's --learner and --update-threads (the trainer sets them from its config;
    # not saved in model.zip, which stays stock).
    learner = "sb3"
    update_threads = 1

    def train(self) -> None:
        """PPO's update on update_threads torch threads (the env workers wait meanwhile;
        acting goes back to one). The fast learner: Adam stepped by torch's fused kernel,
        and the loss's forward and backward written out where the policy is SB3's plain
        MlpPolicy (fast_learner.py: the same update to float rounding, far fewer tensor
        operations)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(self.update_threads)
        try:
            fast_learner.use_fused_adam(self.policy.optimizer, self.learner == "fast")
            if self.learner == "fast" and fast_learner.supports(self) is None:
                fast_learner.train(self)
            else:
                super().train()
        finally:
            torch.set_num_threads(threads)

    def collect_rollouts(self, *args, **kwargs) -> bool:
        """SB3's rollout; the fast learner acts through fast_learner.actor (the same
        actions, bit for bit) where the policy allows."""
        if self.learner != "fast" or fast_learner.supports(self) is not None:
            return super().collect_rollouts(*args, **kwargs)
        self.policy.forward = fast_learner.actor(self.policy)
        try:
            return super().collect_rollouts(*args, **kwargs)
        finally:
            del self.policy.forward  # the class's again

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "learner", "update_threads"]

    def dump_logs(self, iteration: int = 0) -> None:
        if self.held_success_buffer:
            self.logger.record(HELD_SUCCESS_KEY, safe_mean(self.held_success_buffer))
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
