"""A reach-like env that dies on purpose in one worker, for crash-handling tests.

CRASH_SEED picks the env (its reset seed = run seed + env index), CRASH_AT_STEP when,
CRASH_MODE how: "exception" raises, "segfault" kills the worker with SIGSEGV.
"""

from __future__ import annotations

import os
import signal

import gymnasium as gym
import numpy as np


class CrashingReach(gym.Env):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-10, 10, (9,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.first_seed: int | None = None
        self.steps = 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if self.first_seed is None:
            self.first_seed = seed
        self.position = self.np_random.uniform(-0.2, 0.2, 3)
        self.goal = self.np_random.uniform(-0.2, 0.2, 3)
        return self._obs(), {}

    def _obs(self):
        return np.concatenate([self.position, np.zeros(3), self.goal]).astype(np.float32)

    def step(self, action):
        self.steps += 1
        if self.first_seed == int(os.environ.get("CRASH_SEED", "-1")) and self.steps >= int(
            os.environ.get("CRASH_AT_STEP", "1000000000")
        ):
            if os.environ.get("CRASH_MODE") == "segfault":
                os.kill(os.getpid(), signal.SIGSEGV)
            raise RuntimeError("simulated physics failure")
        self.position = self.position + 0.05 * np.clip(action, -1, 1)
        distance = float(np.linalg.norm(self.position - self.goal))
        return self._obs(), -distance, False, False, {"is_success": distance < 0.05}


if "CrashingReach-v0" not in gym.registry:
    gym.register("CrashingReach-v0", entry_point=CrashingReach, max_episode_steps=50)
