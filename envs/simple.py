"""Kinematic Panda reach: forward kinematics in plain Python floats, no physics engine.

The same observation (end-effector position, velocity, goal) and action (end-effector
displacement) as the PyBullet reach, the same goal box and success radius, at a small
fraction of the cost: the joints follow one damped-least-squares IK step per control step.
One env works on Python floats, not numpy: for 7 joints numpy's per-call overhead costs
more than the arithmetic (envs/simple_vec.py runs the same kinematics on batches).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import panda_kinematics as kinematics
from envs.control import BASE_POSITION, CONTROL_DT, EE_STEP
from envs.tasks.base import SUCCESS_DISTANCE, check_reward_type, reach_reward
from envs.tasks.reach import GOAL_HIGH, GOAL_LOW

BASE_X = float(BASE_POSITION[0])  # the base stands at y = z = 0 on the table
_NEUTRAL = kinematics.NEUTRAL.tolist()


class SimpleReachEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, reward_type: str = "dense") -> None:
        check_reward_type(reward_type)
        self.reward_type = reward_type
        self.action_space = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
        self.observation_space = spaces.Box(-10.0, 10.0, shape=(9,), dtype=np.float32)
        self.velocity = (0.0, 0.0, 0.0)
        self.goal = np.zeros(3)
        self._goal = (0.0, 0.0, 0.0)
        self._set_joints(_NEUTRAL)

    def _set_joints(self, q: list[float]) -> None:
        # The frames at q serve twice: the EE observed now, the Jacobian of the next step.
        self.q = q
        self._axes, self._origins, self._ee_base = kinematics.chain_scalar(q)
        ex, ey, ez = self._ee_base
        self.ee = (ex + BASE_X, ey, ez)

    def _obs(self) -> np.ndarray:
        return np.array((*self.ee, *self.velocity, *self._goal), dtype=np.float32)

    def _distance(self) -> float:
        (x, y, z), (gx, gy, gz) = self.ee, self._goal
        return math.sqrt((x - gx) ** 2 + (y - gy) ** 2 + (z - gz) ** 2)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._set_joints(_NEUTRAL)
        self.velocity = (0.0, 0.0, 0.0)
        self.goal = self.np_random.uniform(GOAL_LOW, GOAL_HIGH)
        self._goal = tuple(self.goal.tolist())
        return self._obs(), {"is_success": self._distance() < SUCCESS_DISTANCE}

    def step(self, action):
        clip = kinematics.clip_scalar
        ax, ay, az = (clip(float(v), -1.0, 1.0) for v in action)
        bx, by, bz = self._ee_base
        target = (bx + EE_STEP * ax, by + EE_STEP * ay, max(0.0, bz + EE_STEP * az))
        before = self.ee
        q = kinematics.dls_step(self.q, self._axes, self._origins, self._ee_base, target)
        self._set_joints(q)
        (x, y, z), (old_x, old_y, old_z) = self.ee, before
        self.velocity = (
            (x - old_x) / CONTROL_DT,
            (y - old_y) / CONTROL_DT,
            (z - old_z) / CONTROL_DT,
        )
        distance = self._distance()
        reward = reach_reward(distance, self.reward_type)
        return self._obs(), reward, False, False, {"is_success": distance < SUCCESS_DISTANCE}
