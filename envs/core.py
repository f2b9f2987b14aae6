"""RobotTaskEnv: one gymnasium Env composed of a Robot and a Task over a Sim.

A new task or robot is one small class; this file wires them into gymnasium's API:
flat Box observations by default, or a goal-conditioned Dict (observation, achieved_goal,
desired_goal) with compute_reward, so SB3's HER and MultiInputPolicy work too.

Flat observation: robot part (EE position, EE velocity[, finger opening]), task part
(nothing for reach; the cube's state for object tasks), then the goal.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.sim import Sim

OBS_TYPES = ("flat", "dict")
OBS_LIMIT = 10.0
# Names the registrations use; classes are imported when an env is built.
ROBOT_CLASSES = {"panda": "envs.robots.panda:Panda", "kuka": "envs.robots.kuka:Kuka"}
TASK_CLASSES = {
    "reach": "envs.tasks.reach:Reach",
    "push": "envs.tasks.push:Push",
    "pick_and_place": "envs.tasks.pick_and_place:PickAndPlace",
}


def _load(kind: str, table: dict[str, str], name_or_class: str | type) -> type:
    if not isinstance(name_or_class, str):
        return name_or_class
    if name_or_class not in table:
        raise ValueError(f"{kind} {name_or_class!r} must be one of {tuple(table)}")
    module, _, attribute = table[name_or_class].partition(":")
    return getattr(importlib.import_module(module), attribute)


class RobotTaskEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __new__(cls, *args: Any, **kwargs: Any) -> RobotTaskEnv:
        # SB3's check_env takes any env with compute_reward for a goal env and then
        # requires Dict observations: only the Dict-observation env has the method.
        if kwargs.get("obs_type") == "dict" and cls is RobotTaskEnv:
            cls = GoalRobotTaskEnv
        return super().__new__(cls)

    def __init__(
        self,
        robot: str | type = "panda",
        task: str | type = "reach",
        *,
        control: str = "ee",
        reward_type: str = "dense",
        obs_type: str = "flat",
        render_mode: str | None = None,
        render_size: tuple[int, int] = (480, 360),
        render_meshes: bool = True,
        **task_options: Any,
    ) -> None:
        if obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type {obs_type!r} must be one of {OBS_TYPES}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r}: only 'rgb_array' is supported")
        robot_cls = _load("robot", ROBOT_CLASSES, robot)
        task_cls = _load("task", TASK_CLASSES, task)
        unknown = sorted(set(task_options) - set(task_cls.options))
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} is not an option of task {task_cls.name!r}"
                + (f" (it takes {', '.join(task_cls.options)})" if task_cls.options else "")
            )
        self.render_mode = render_mode
        self.obs_type = obs_type
        self.render_size = tuple(render_size)
        # render_meshes=False draws the collision shapes: about half the cost per frame.
        self.sim = Sim(visuals=render_mode is not None and render_meshes)
        self._add_scene()
        self.robot = robot_cls(self.sim, control=control, gripper=task_cls.gripper)
        self.task = task_cls(self.sim, self.robot, reward_type=reward_type, **task_options)
        self.action_space = self.robot.action_space
        self.robot.reset()
        self.observation_space = self._observation_space()
        self.sim.save_initial_state()

    @property
    def goal(self) -> np.ndarray:
        return self.task.goal

    def _add_scene(self) -> None:
        # A 1.1 x 0.7 m table whose top is the z = 0 plane; the arm stands on it.
        self.sim.create_box((0.55, 0.35, 0.2), (-0.3, 0.0, -0.2), rgba=(0.95, 0.95, 0.95, 1))

    def _observation_space(self) -> spaces.Space:
        robot_obs = self.robot.observation()
        task_obs, _, _ = self.task.observe(robot_obs)
        size = len(robot_obs) + len(task_obs)
        goal = self.task.goal_size

        def box(n: int) -> spaces.Box:
            return spaces.Box(-OBS_LIMIT, OBS_LIMIT, shape=(n,), dtype=np.float32)

        if self.obs_type == "flat":
            return box(size + goal)
        return spaces.Dict(
            {"observation": box(size), "achieved_goal": box(goal), "desired_goal": box(goal)}
        )

    def _clip(self, values: np.ndarray) -> np.ndarray:
        # A tumbling cube can spin faster than the bounds: keep observations in the space.
        values = values.astype(np.float32)
        return np.minimum(np.maximum(values, -OBS_LIMIT, out=values), OBS_LIMIT, out=values)

    def _observe(self) -> tuple[Any, np.ndarray, dict]:
        robot_obs = self.robot.observation()
        task_obs, achieved, extra_info = self.task.observe(robot_obs)
        state = np.concatenate([robot_obs, task_obs])
        if self.obs_type == "flat":
            return self._clip(np.concatenate([state, self.task.goal])), achieved, extra_info
        observation = {
            "observation": self._clip(state),
            "achieved_goal": self._clip(achieved),
            "desired_goal": self._clip(self.task.goal),
        }
        return observation, achieved, extra_info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.sim.restore_initial_state()
        self.robot.reset()
        self.task.reset(self.np_random)
        observation, achieved, extra_info = self._observe()
        success = bool(self.task.is_success(achieved, self.task.goal))
        return observation, {"is_success": success, **extra_info}

    def step(self, action):
        self.robot.set_action(np.asarray(action, dtype=np.float64))
        self.sim.step()
        observation, achieved, extra_info = self._observe()
        info = {"is_success": bool(self.task.is_success(achieved, self.task.goal)), **extra_info}
        reward = float(self.task.compute_reward(achieved, self.task.goal, info))
        return observation, reward, False, False, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.sim.render(*self.render_size)
        return None

    # A frame's worth of state, so that the drawing can happen elsewhere and later:
    # an env that only steps records poses, a twin built with render_mode draws them.
    def pose(self) -> list[tuple]:
        return self.sim.pose()

    def render_pose(self, pose: list[tuple]) -> np.ndarray:
        self.sim.set_pose(pose)
        return self.sim.render(*self.render_size)

    def close(self) -> None:
        self.sim.close()


class GoalRobotTaskEnv(RobotTaskEnv):
    """obs_type="dict": what SB3's HER needs, compute_reward included."""

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray:
        """Batched, as HER calls it: rewards for relabelled goals."""
        return self.task.compute_reward(achieved_goal, desired_goal, info)
