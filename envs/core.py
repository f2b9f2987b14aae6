"""RobotTaskEnv: one gymnasium Env composed of a Robot and a Task over a Sim.

A new task or robot is one small class; this file wires them into gymnasium's API:
flat Box observations by default, or a goal-conditioned Dict (observation, achieved_goal,
desired_goal) with compute_reward, so SB3's HER and MultiInputPolicy work too.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.robots.panda import Panda
from envs.sim import Sim
from envs.tasks.reach import Reach

OBS_TYPES = ("flat", "dict")
OBS_LIMIT = 10.0


class RobotTaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(
        self,
        robot_cls: type,
        task_cls: type,
        control: str = "ee",
        reward_type: str = "dense",
        obs_type: str = "flat",
        render_mode: str | None = None,
    ) -> None:
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type {obs_type!r} must be one of {OBS_TYPES}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r}: only 'rgb_array' is supported")
        self.render_mode = render_mode
        self.obs_type = obs_type
        self.sim = Sim()
        self._add_scene()
        self.robot = robot_cls(self.sim, control=control)
        self.task = task_cls(self.sim, reward_type=reward_type)
        self.action_space = self.robot.action_space
        self.robot.reset()
        self.observation_space = self._observation_space()

    def _add_scene(self) -> None:
        # A 1.1 x 0.7 m table whose top is the z = 0 plane; the arm stands on it.
        self.sim.create_box((0.55, 0.35, 0.2), (-0.3, 0.0, -0.2), rgba=(0.95, 0.95, 0.95, 1))

    def _observation_space(self) -> spaces.Space:
        robot_obs = self.robot.observation()
        size = len(robot_obs) + len(self.task.observation())
        goal = self.task.goal_size

        def box(n: int) -> spaces.Box:
            return spaces.Box(-OBS_LIMIT, OBS_LIMIT, shape=(n,), dtype=np.float32)

        if self.obs_type == "flat":
            return box(size + goal)
        return spaces.Dict(
            {"observation": box(size), "achieved_goal": box(goal), "desired_goal": box(goal)}
        )

    def _observe(self) -> tuple[Any, np.ndarray]:
        robot_obs = self.robot.observation()
        achieved = self.task.achieved_goal(robot_obs)
        state = np.concatenate([robot_obs, self.task.observation()])
        if self.obs_type == "flat":
            flat = np.concatenate([state, self.task.goal]).astype(np.float32)
            return np.clip(flat, -OBS_LIMIT, OBS_LIMIT), achieved
        observation = {
            "observation": state.astype(np.float32),
            "achieved_goal": achieved.astype(np.float32),
            "desired_goal": self.task.goal.astype(np.float32),
        }
        return observation, achieved

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.robot.reset()
        self.task.reset(self.np_random)
        observation, achieved = self._observe()
        return observation, {"is_success": bool(self.task.is_success(achieved, self.task.goal))}

    def step(self, action):
        self.robot.set_action(np.asarray(action, dtype=np.float64))
        self.sim.step()
        observation, achieved = self._observe()
        success = bool(self.task.is_success(achieved, self.task.goal))
        info = {"is_success": success}
        reward = float(self.task.compute_reward(achieved, self.task.goal, info))
        return observation, reward, False, False, info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        """Batched, as HER calls it: rewards for relabelled goals."""
        return self.task.compute_reward(achieved_goal, desired_goal, info)

    def render(self):
        if self.render_mode == "rgb_array":
            return self.sim.render()
        return None

    def close(self) -> None:
        self.sim.close()


class PandaReachEnv(RobotTaskEnv):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Panda, Reach, **kwargs)
