"""Push: slide the cube across the table to a goal on the table, gripper held closed.

Dense reward: -(d_goal + HAND_WEIGHT x d_behind), d_behind the hand's distance to the point
PUSH_OFFSET behind the cube, on the far side from the goal (in the table's plane; nearer
the cube's centre once the cube is closer to the goal than that). Aimed at the cube's centre
instead (ObjectTask's reward), the hand is led to whichever side of the cube it comes from,
the arm's: goals between the cube and the arm then need the hand to go round the cube first,
and PPO learned that for some starts only (63% success against 95% for other goals;
docs/performance/learning-runs.md, "Where push fails").
HER relabels goals: the point depends on the goal, so every step reports the hand's position
(info["hand_position"]) and compute_reward finds the point from the goals it is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.tasks.objects import HALF_SIZE, HAND_WEIGHT, OBJECT_RANGE, ObjectTask, info_values

# The end effector (between the closed fingertips) pushing the cube's face: half the cube
# and about half a finger's thickness behind the cube's centre.
PUSH_OFFSET = 0.03
HAND_POSITION = "hand_position"


class Push(ObjectTask):
    name = "push"
    gripper = "closed"

    def sample_goal(self, np_random: np.random.Generator) -> np.ndarray:
        xy = np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        return np.array([xy[0], xy[1], HALF_SIZE])

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        state, cube, info = super().observe(robot_observation)
        info[HAND_POSITION] = np.array(robot_observation[:3], dtype=np.float64)
        return state, cube, info

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        hand = info_values(info, HAND_POSITION)
        if self.reward_type != "dense" or hand is None:
            return super().compute_reward(achieved, desired, info)
        achieved, desired = np.asarray(achieved), np.asarray(desired)
        d_goal = np.linalg.norm(desired - achieved, axis=-1)
        behind = push_point(achieved, desired)
        d_behind = np.linalg.norm(hand - behind, axis=-1)
        return -np.asarray(d_goal + HAND_WEIGHT * d_behind, dtype=np.float32)


def push_point(cube: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Where the hand pushes the cube towards the goal from: PUSH_OFFSET behind the cube's
    centre on the line from the goal through it, in the table's plane (batched)."""
    toward = goal[..., :2] - cube[..., :2]
    length = np.linalg.norm(toward, axis=-1, keepdims=True)
    # Never further back than the goal is away: near the goal the point slides to the
    # cube's centre rather than swinging round it as the direction turns.
    back = np.minimum(PUSH_OFFSET, length) * toward / np.maximum(length, 1e-9)
    point = np.array(cube, dtype=np.float64, copy=True)
    point[..., :2] -= back
    return point
