"""Cheap envs and picklable constructors for the ShmVecEnv tests.

Torch-free on purpose: worker processes import this module to build their envs.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

# What a worker had loaded before it built anything (this module is unpickled first).
LOADED_AT_START = frozenset(sys.modules)


class GoalCountdown(gym.Env):
    """Dict observations, episodes that terminate (random length) or are truncated
    (TimeLimit), reset infos and reset options: every path of SB3's auto-reset."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Dict(
            {
                "observation": gym.spaces.Box(-10, 10, (4,), np.float32),
                "desired_goal": gym.spaces.Box(-10, 10, (2,), np.float64),
                "steps_left": gym.spaces.Discrete(20),
            }
        )
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.render_mode = render_mode
        self.episodes = 0
        self.last_options: dict | None = None

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.episodes += 1
        self.last_options = options
        self.state = self.np_random.uniform(-1, 1, 4).astype(np.float32)
        if options and "start" in options:
            self.state[:] = options["start"]
        self.goal = self.np_random.uniform(-1, 1, 2)
        self.left = int(self.np_random.integers(3, 20))
        return self._obs(), {"episode_number": self.episodes}

    def _obs(self):
        return {
            "observation": self.state.copy(),
            "desired_goal": self.goal.copy(),
            "steps_left": self.left,
        }

    def step(self, action):
        self.state[:2] += 0.1 * np.clip(action, -1, 1)
        self.state[2:] = self.np_random.normal(size=2)
        self.left -= 1
        distance = float(np.linalg.norm(self.state[:2] - self.goal))
        terminated = self.left <= 0
        info = {"is_success": distance < 0.3}
        if self.left % 4 == 0:
            info["sometimes"] = np.arange(3) * self.left
        return self._obs(), -distance, terminated, False, info

    def render(self):
        return np.full((4, 6, 3), self.episodes % 255, dtype=np.uint8)

    def hang(self, seconds: float) -> None:
        time.sleep(seconds)

    def add(self, a: int, b: int = 0) -> int:
        return a + b + self.episodes


if "GoalCountdown-v0" not in gym.registry:
    gym.register("GoalCountdown-v0", entry_point="shm_helpers:GoalCountdown", max_episode_steps=12)


class Introspect(gym.Wrapper):
    """Lets a test ask a worker process about itself, through env_method("worker_state")."""

    def worker_state(self) -> dict:
        import signal
        import sys

        from rl_train.vec.shm_worker import THREAD_ENV_VARS

        return {
            "modules": sorted(sys.modules),
            "thread_env": {var: os.environ.get(var) for var in THREAD_ENV_VARS},
            "sigint_ignored": signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
            "loaded_at_start": sorted(LOADED_AT_START),
        }


@dataclass(frozen=True)
class MakeEnv:
    """gym.make(env_id) in the worker, after setting env vars there (CRASH_* for
    crash_env: a running forkserver does not see env vars set later in the tests);
    introspect: wrapped in Introspect."""

    env_id: str
    env_vars: dict[str, str] = field(default_factory=dict)
    kwargs: dict = field(default_factory=dict)
    introspect: bool = False

    def __call__(self) -> gym.Env:
        os.environ.update(self.env_vars)
        import crash_env  # noqa: F401  (registers CrashingReach-v0)
        import shm_helpers  # noqa: F401  (registers GoalCountdown-v0)

        env = gym.make(self.env_id, **self.kwargs)
        return shm_helpers.Introspect(env) if self.introspect else env


def assert_same(left, right, where=""):
    """Equal values of the same types, recursively (dicts, lists, arrays, scalars)."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), (where, left, right)
        for key in left:
            assert_same(left[key], right[key], f"{where}[{key!r}]")
    elif isinstance(left, (list, tuple)):
        assert type(left) is type(right) and len(left) == len(right), (where, left, right)
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(left, np.ndarray):
        assert isinstance(right, np.ndarray), (where, left, right)
        assert left.dtype == right.dtype and left.shape == right.shape, (where, left, right)
        np.testing.assert_array_equal(left, right, err_msg=where)
    else:
        assert type(left) is type(right) and left == right, (where, left, right)
