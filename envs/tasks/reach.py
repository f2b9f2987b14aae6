"""Reach: bring the end effector to a goal sampled in a box above the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from envs.tasks.base import SUCCESS_DISTANCE, GoalTask, distance, reach_reward

if TYPE_CHECKING:  # the physics engine loads only where an env is built
    from envs.robots.arm import Arm
    from envs.sim import Sim

GOAL_LOW = np.array([-0.15, -0.15, 0.0])
GOAL_HIGH = np.array([0.15, 0.15, 0.3])
NO_TASK_STATE = np.zeros(0)


def _corner(name: str, value: Any, default: np.ndarray) -> np.ndarray:
    corner = default if value is None else np.asarray(value, dtype=float)
    if corner.shape != (3,) or not np.all(np.isfinite(corner)):
        raise ValueError(f"{name} {value!r} must be three numbers [x, y, z] (m, from the base)")
    return corner


class Reach(GoalTask):
    name = "reach"
    gripper = "off"
    # The goal box (to evaluate a policy on other goals than it trained on); by default
    # GOAL_LOW..GOAL_HIGH.
    options = ("goal_low", "goal_high")

    def __init__(
        self,
        sim: Sim,
        robot: Arm,
        reward_type: str = "dense",
        goal_low: Any = None,
        goal_high: Any = None,
    ) -> None:
        super().__init__(sim, robot, reward_type)
        self.goal_low = _corner("goal_low", goal_low, GOAL_LOW)
        self.goal_high = _corner("goal_high", goal_high, GOAL_HIGH)
        if np.any(self.goal_low > self.goal_high):
            raise ValueError(f"goal_low {goal_low!r} must not exceed goal_high {goal_high!r}")
        self.marker = sim.create_marker(SUCCESS_DISTANCE / 2)

    def reset(self, np_random: np.random.Generator) -> None:
        self.goal = np_random.uniform(self.goal_low, self.goal_high)
        self.sim.move_marker(self.marker, self.goal)

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        # Nothing but the goal: the robot part says where the hand is, which is also
        # the achieved goal.
        return NO_TASK_STATE, robot_observation[:3], {}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        # np.float32 of a scalar is a scalar, of an array (HER's batches) an array.
        return np.float32(reach_reward(distance(achieved, desired), self.reward_type))
