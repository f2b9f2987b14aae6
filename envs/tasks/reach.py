"""Reach: bring the end effector to a goal sampled in a box above the table."""

from __future__ import annotations

import numpy as np

from envs.sim import Sim

SUCCESS_DISTANCE = 0.05  # metres
GOAL_LOW = np.array([-0.15, -0.15, 0.0])
GOAL_HIGH = np.array([0.15, 0.15, 0.3])
REWARD_TYPES = ("dense", "sparse")


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)


class Reach:
    name = "reach"
    goal_size = 3

    def __init__(self, sim: Sim, reward_type: str = "dense") -> None:
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"reward_type {reward_type!r} must be one of {REWARD_TYPES}")
        self.sim = sim
        self.reward_type = reward_type
        self.goal = np.zeros(3)
        self.marker = sim.create_marker(SUCCESS_DISTANCE / 2)

    def reset(self, np_random: np.random.Generator) -> None:
        self.goal = np_random.uniform(GOAL_LOW, GOAL_HIGH)
        self.sim.move_marker(self.marker, self.goal)

    def observation(self) -> np.ndarray:
        return np.zeros(0)  # nothing but the goal: the robot part says where the hand is

    def achieved_goal(self, robot_observation: np.ndarray) -> np.ndarray:
        return robot_observation[:3]  # the end-effector position

    def is_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        return distance(achieved, desired) < SUCCESS_DISTANCE

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info=None) -> np.ndarray:
        d = distance(achieved, desired)
        if self.reward_type == "sparse":
            return -(d >= SUCCESS_DISTANCE).astype(np.float32)
        return -d.astype(np.float32)
