"""What every task shares: the task interface, the success radius and the reward helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the physics engine loads only where an env is built
    from envs.robots.arm import Arm
    from envs.sim import Sim


SUCCESS_DISTANCE = 0.05  # metres
REWARD_TYPES = ("dense", "sparse")


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = np.asarray(a) - np.asarray(b)
    return np.sqrt((difference * difference).sum(axis=-1))


def sparse_reward(goal_distance: np.ndarray) -> np.ndarray:
    """-1 until the goal is within SUCCESS_DISTANCE, then 0 (panda-gym's sparse reward)."""
    return -(goal_distance >= SUCCESS_DISTANCE).astype(np.float32)


def reach_reward(goal_distance, reward_type: str):
    """The reward of a goal at `goal_distance`: dense -distance, sparse -1 until within
    SUCCESS_DISTANCE, then 0. A float for a float (the kinematic env steps in plain
    Python), an array for an array."""
    if reward_type == "sparse":
        if isinstance(goal_distance, float):
            return -1.0 if goal_distance >= SUCCESS_DISTANCE else 0.0
        return sparse_reward(goal_distance)
    return -goal_distance


def check_reward_type(reward_type: str, choices: tuple[str, ...] = REWARD_TYPES) -> None:
    if reward_type not in choices:
        raise ValueError(f"reward_type {reward_type!r} must be one of {choices}")


class GoalTask:
    """The task interface (RobotTaskEnv relies on exactly these members):

    gripper        what the task needs of the gripper ("off", "closed", "action")
    reward_types   the reward_type names it takes
    options        the keyword arguments of its own it takes (pick-and-place: held_start)
    goal_size      length of the goal vector; goal is the current goal
    reset(rng)     place goal (and objects) for a new episode
    observe(robot_observation) -> (task state, achieved goal, extra step info)
    is_success(achieved, desired), compute_reward(achieved, desired, info): batched

    Success is the achieved goal within SUCCESS_DISTANCE of the desired one, for every task.
    """

    name = "task"
    gripper = "off"
    goal_size = 3
    reward_types = REWARD_TYPES
    options: tuple[str, ...] = ()  # keyword arguments of its own (RobotTaskEnv passes them)

    def __init__(self, sim: Sim, robot: Arm, reward_type: str = "dense") -> None:
        check_reward_type(reward_type, self.reward_types)
        self.sim = sim
        self.robot = robot  # what a task may need to ask the arm: where its fingers are
        self.reward_type = reward_type
        self.goal = np.zeros(self.goal_size)

    def reset(self, np_random: np.random.Generator) -> None:
        raise NotImplementedError

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError

    def is_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        return distance(achieved, desired) < SUCCESS_DISTANCE

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info=None):
        raise NotImplementedError
