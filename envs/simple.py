"""Kinematic Panda reach: numpy forward kinematics, no physics engine.

The same observation (end-effector position, velocity, goal) and action (end-effector
displacement) as the PyBullet reach, the same goal box and success radius, at a small
fraction of the cost: the joints follow a damped-least-squares IK step per control step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import panda_kinematics as kinematics
from envs.tasks.reach import GOAL_HIGH, GOAL_LOW, SUCCESS_DISTANCE

BASE_POSITION = np.array([-0.6, 0.0, 0.0])  # as the PyBullet Panda stands
CONTROL_DT = 0.04  # 25 Hz, as the PyBullet envs
EE_STEP = 0.05


class SimpleReachEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, reward_type: str = "dense") -> None:
        self.reward_type = reward_type
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.observation_space = spaces.Box(-10.0, 10.0, shape=(9,), dtype=np.float32)
        self.q = kinematics.NEUTRAL[None, :].copy()
        self.ee = kinematics.forward(self.q)[0] + BASE_POSITION
        self.velocity = np.zeros(3)
        self.goal = np.zeros(3)

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.ee, self.velocity, self.goal]).astype(np.float32)

    def _distance(self) -> float:
        return float(np.linalg.norm(self.ee - self.goal))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.q = kinematics.NEUTRAL[None, :].copy()
        self.ee = kinematics.forward(self.q)[0] + BASE_POSITION
        self.velocity = np.zeros(3)
        self.goal = self.np_random.uniform(GOAL_LOW, GOAL_HIGH)
        return self._obs(), {"is_success": self._distance() < SUCCESS_DISTANCE}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        target = self.ee + EE_STEP * action
        target[2] = max(0.0, target[2])
        self.q = kinematics.ik_step(self.q, (target - BASE_POSITION)[None, :])
        ee = kinematics.forward(self.q)[0] + BASE_POSITION
        self.velocity = (ee - self.ee) / CONTROL_DT
        self.ee = ee
        distance = self._distance()
        success = distance < SUCCESS_DISTANCE
        if self.reward_type == "sparse":
            reward = -float(not success)
        else:
            reward = -distance
        return self._obs(), reward, False, False, {"is_success": success}
