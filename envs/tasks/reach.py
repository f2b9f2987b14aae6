"""Reach: bring the end effector to a goal sampled in a box above the table."""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.sim import Sim

SUCCESS_DISTANCE = 0.05  # metres
GOAL_LOW = np.array([-0.15, -0.15, 0.0])
GOAL_HIGH = np.array([0.15, 0.15, 0.3])
REWARD_TYPES = ("dense", "sparse")
NO_TASK_STATE = np.zeros(0)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = np.asarray(a) - np.asarray(b)
    return np.sqrt((difference * difference).sum(axis=-1))


def within_success_distance(achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
    return distance(achieved, desired) < SUCCESS_DISTANCE


def sparse_reward(goal_distance: np.ndarray) -> np.ndarray:
    """-1 until the goal is within SUCCESS_DISTANCE, then 0 (panda-gym's sparse reward)."""
    return -(goal_distance >= SUCCESS_DISTANCE).astype(np.float32)


def check_reward_type(reward_type: str) -> None:
    if reward_type not in REWARD_TYPES:
        raise ValueError(f"reward_type {reward_type!r} must be one of {REWARD_TYPES}")


class Reach:
    """The task interface (RobotTaskEnv relies on exactly these members):

    gripper        what the task needs of the gripper ("off", "closed", "action")
    goal_size      length of the goal vector; goal is the current goal
    reset(rng)     place goal (and objects) for a new episode
    observe(robot_observation) -> (task state, achieved goal, extra step info)
    is_success(achieved, desired), compute_reward(achieved, desired, info): batched
    """

    name = "reach"
    gripper = "off"
    goal_size = 3

    def __init__(self, sim: Sim, reward_type: str = "dense") -> None:
        check_reward_type(reward_type)
        self.sim = sim
        self.reward_type = reward_type
        self.goal = np.zeros(3)
        self.marker = sim.create_marker(SUCCESS_DISTANCE / 2)

    def reset(self, np_random: np.random.Generator) -> None:
        self.goal = np_random.uniform(GOAL_LOW, GOAL_HIGH)
        self.sim.move_marker(self.marker, self.goal)

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        # Nothing but the goal: the robot part says where the hand is, which is also
        # the achieved goal.
        return NO_TASK_STATE, robot_observation[:3], {}

    def is_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        return within_success_distance(achieved, desired)

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        d = distance(achieved, desired)
        if self.reward_type == "sparse":
            return sparse_reward(d)
        return -d.astype(np.float32)
