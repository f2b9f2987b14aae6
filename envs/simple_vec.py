"""SimpleReachVecEnv: the kinematic Panda reach, natively vectorized as an SB3 VecEnv.

Every env advances in one batched numpy step (the same kinematics as envs/simple.py, on
arrays of shape (n,) instead of floats), instead of n Python env objects. It behaves as
SB3's DummyVecEnv over n SimpleReachEnv with TimeLimit(50) would: auto-reset, with
info["terminal_observation"], info["TimeLimit.truncated"] and info["is_success"].
Env i starts as SimpleReachEnv().reset(seed=seed + i) does, and draws its later goals
from its own generator, so each env replays the single env exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvObs, VecEnvStepReturn

from envs import EPISODE_STEPS
from envs import panda_kinematics as kinematics
from envs.control import CONTROL_DT, EE_STEP
from envs.simple import BASE_X
from envs.tasks.base import SUCCESS_DISTANCE, check_reward_type, reach_reward
from envs.tasks.reach import GOAL_HIGH, GOAL_LOW

OBS_SIZE = 9
# Goals are drawn GOAL_BATCH at a time from each env's generator: one call per env every
# GOAL_BATCH episodes instead of one per episode (the same numbers, in the same order).
GOAL_BATCH = 64


class SimpleReachVecEnv(VecEnv):
    def __init__(
        self,
        n_envs: int,
        seed: int | None = None,
        reward_type: str = "dense",
        max_episode_steps: int = EPISODE_STEPS,
    ) -> None:
        check_reward_type(reward_type)
        self.render_mode = None
        observation_space = spaces.Box(-10.0, 10.0, shape=(OBS_SIZE,), dtype=np.float32)
        action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        super().__init__(n_envs, observation_space, action_space)
        self.reward_type = reward_type
        self.max_episode_steps = max_episode_steps
        self._rngs = [
            seeding.np_random(None if seed is None else seed + i)[0] for i in range(n_envs)
        ]
        self._goal_buffer = np.zeros((n_envs, GOAL_BATCH, 3))
        self._goals_used = np.full(n_envs, GOAL_BATCH)  # all used: draw at the first reset
        self._episode_seeds: list[list[int]] = [[] for _ in range(n_envs)]  # evaluations'
        self._seeding = False  # any of them queued
        self.q = np.repeat(kinematics.NEUTRAL[:, None], n_envs, axis=1)  # (7, n)
        self.ee = np.zeros((3, n_envs))  # world frame
        self.velocity = np.zeros((3, n_envs))
        self.goal = np.zeros((3, n_envs))
        self.elapsed = np.zeros(n_envs, dtype=np.int64)
        self._frames: tuple = ()
        self._actions = np.zeros((n_envs, 3))
        self._set_joints(self.q)

    # -- state ---------------------------------------------------------------------------
    def _set_joints(self, q: np.ndarray) -> None:
        self.q = q
        axes, origins, ee_base = kinematics.chain_batch(q)
        self._frames = (axes, origins, ee_base)
        self.ee = np.stack([ee_base[0] + BASE_X, ee_base[1], ee_base[2]])

    def _reset_envs(self, which: np.ndarray) -> None:
        """Neutral pose and a new goal for the envs in `which` (indices)."""
        if len(which) == 0:
            return
        q = self.q.copy()
        q[:, which] = kinematics.NEUTRAL[:, None]
        self._set_joints(q)
        self.velocity[:, which] = 0.0
        self.goal[:, which] = self._next_goals(which).T
        self.elapsed[which] = 0

    def seed_next_episodes_of(self, env: int, seeds: list[int]) -> None:
        """Env `env`'s next episodes start as reset(seed=s) would, for s in `seeds`
        (rl_train/evaluation/episodes.py; SeededEpisodes for the other vec envs)."""
        self._episode_seeds[env] = list(seeds)
        self._seeding = any(self._episode_seeds)

    def _next_goals(self, which: np.ndarray) -> np.ndarray:
        if self._seeding:  # an evaluation's; training never pays for the loop
            for i in which.tolist():
                if self._episode_seeds[i]:
                    self._rngs[i] = seeding.np_random(self._episode_seeds[i].pop(0))[0]
                    self._goals_used[i] = GOAL_BATCH
            self._seeding = any(self._episode_seeds)
        for i in which[self._goals_used[which] >= GOAL_BATCH].tolist():
            self._goal_buffer[i] = self._rngs[i].uniform(GOAL_LOW, GOAL_HIGH, size=(GOAL_BATCH, 3))
            self._goals_used[i] = 0
        goals = self._goal_buffer[which, self._goals_used[which]]
        self._goals_used[which] += 1
        return goals

    def _observations(self) -> np.ndarray:
        return np.concatenate([self.ee, self.velocity, self.goal]).T.astype(np.float32)

    # -- the whole state, for an exact resume (rl_train/training/run_state.py) --------------
    def env_state(self) -> dict[str, Any]:
        return {
            "generators": [rng.bit_generator.state for rng in self._rngs],
            "goal_buffer": self._goal_buffer.copy(),
            "goals_used": self._goals_used.copy(),
            "q": self.q.copy(),
            "velocity": self.velocity.copy(),
            "goal": self.goal.copy(),
            "elapsed": self.elapsed.copy(),
        }

    def restore_env_state(self, state: dict[str, Any]) -> np.ndarray:
        """Put every env where `state` (from env_state) says; returns the observations."""
        if len(state["generators"]) != self.num_envs:
            raise ValueError(f"a state of {len(state['generators'])} envs, not {self.num_envs}")
        for rng, generator in zip(self._rngs, state["generators"], strict=True):
            rng.bit_generator.state = generator
        self._goal_buffer = state["goal_buffer"].copy()
        self._goals_used = state["goals_used"].copy()
        self._set_joints(state["q"].copy())
        self.velocity = state["velocity"].copy()
        self.goal = state["goal"].copy()
        self.elapsed = state["elapsed"].copy()
        return self._observations()

    # -- VecEnv ----------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        for i, seed in enumerate(self._seeds):
            if seed is not None:
                self._rngs[i] = seeding.np_random(seed)[0]
                self._goals_used[i] = GOAL_BATCH
        self._reset_seeds()
        self._reset_envs(np.arange(self.num_envs))
        success = self._distance() < SUCCESS_DISTANCE
        self.reset_infos = [{"is_success": s} for s in success.tolist()]
        return self._observations()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.float64).reshape(self.num_envs, 3)

    def _distance(self) -> np.ndarray:
        return np.sqrt(((self.ee - self.goal) ** 2).sum(axis=0))

    def _advance(self) -> None:
        action = np.clip(self._actions.T, -1.0, 1.0)
        axes, origins, ee_base = self._frames
        target = (
            ee_base[0] + EE_STEP * action[0],
            ee_base[1] + EE_STEP * action[1],
            np.maximum(0.0, ee_base[2] + EE_STEP * action[2]),
        )
        q = kinematics.dls_step_batch(self.q, axes, origins, ee_base, target)
        before = self.ee
        self._set_joints(q)
        self.velocity = (self.ee - before) / CONTROL_DT

    def step_wait(self) -> VecEnvStepReturn:
        self._advance()
        self.elapsed += 1
        distance = self._distance()
        success = distance < SUCCESS_DISTANCE
        rewards = reach_reward(distance, self.reward_type).astype(np.float32)
        observations = self._observations()
        infos: list[dict[str, Any]] = [{"is_success": s} for s in success.tolist()]
        dones = self.elapsed >= self.max_episode_steps
        if dones.any():
            finished = np.flatnonzero(dones)
            for i in finished.tolist():
                infos[i]["terminal_observation"] = observations[i].copy()
                infos[i]["TimeLimit.truncated"] = True
            self._reset_envs(finished)
            observations[finished] = self._observations()[finished]
        return observations, rewards, dones, infos

    def close(self) -> None:
        pass

    # -- attribute access, as SB3 asks of any VecEnv -----------------------------------------
    # The envs are one batched object: an attribute or method is every env's at once. A call
    # for some of them only would change or run all of them: refused, never done quietly.
    def _indices(self, indices) -> list[int]:
        chosen = [int(i) for i in self._get_indices(indices)]
        for i in chosen:
            if not -self.num_envs <= i < self.num_envs:
                raise IndexError(f"env index {i} out of range for {self.num_envs} envs")
        return [i % self.num_envs for i in chosen]

    def _all(self, indices, what: str) -> list[int]:
        chosen = self._indices(indices)
        if sorted(set(chosen)) != list(range(self.num_envs)):
            raise ValueError(
                f"{what} for envs {chosen}: the kinematic reach's {self.num_envs} envs are one "
                "batched object whose attributes and methods are shared; pass indices=None "
                "(all envs), or use --vec-env shm for envs of their own"
            )
        return chosen

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        self._all(indices, f"set_attr({attr_name!r})")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list:
        """The method, run once for all envs; its result as every env's."""
        chosen = self._all(indices, f"env_method({method_name!r})")
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result] * len(chosen)

    def env_is_wrapped(self, wrapper_class: type, indices=None) -> list[bool]:
        return [False] * len(self._indices(indices))
