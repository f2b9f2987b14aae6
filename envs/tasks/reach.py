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


class Reach(GoalTask):
    name = "reach"
    gripper = "off"

    def __init__(self, sim: Sim, robot: Arm, reward_type: str = "dense") -> None:
        super().__init__(sim, robot, reward_type)
        self.marker = sim.create_marker(SUCCESS_DISTANCE / 2)

    def reset(self, np_random: np.random.Generator) -> None:
        self.goal = np_random.uniform(GOAL_LOW, GOAL_HIGH)
        self.sim.move_marker(self.marker, self.goal)

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        # Nothing but the goal: the robot part says where the hand is, which is also
        # the achieved goal.
        return NO_TASK_STATE, robot_observation[:3], {}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        # np.float32 of a scalar is a scalar, of an array (HER's batches) an array.
        return np.float32(reach_reward(distance(achieved, desired), self.reward_type))
