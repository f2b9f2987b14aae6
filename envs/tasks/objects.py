"""ObjectTask: what push and pick-and-place share, a 4 cm cube on the table to bring to a goal.

Observation (15): cube position, orientation (Euler), linear and angular velocity, and
the cube relative to the end effector. Achieved goal: the cube position.
Rewards, with d_goal the cube-to-goal distance and d_hand the hand-to-cube distance
(pick-and-place has a staged dense reward of its own and calls this one "distance"):
  dense   -(d_goal + HAND_WEIGHT x d_hand): the hand term leads PPO to the cube first,
          which the goal term alone (panda-gym's dense reward) does not; push aims it at
          the cube's far side from the goal instead of its centre (tasks/push.py)
  sparse  -1 until d_goal < 5 cm, then 0
HER relabels goals: the hand term does not depend on the goal, so compute_reward reads
it from info["hand_distance"], which every step reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from envs.tasks.base import GoalTask, distance, sparse_reward

if TYPE_CHECKING:  # the physics engine loads only where an env is built
    from envs.robots.arm import Arm
    from envs.sim import Sim

HALF_SIZE = 0.02  # a 4 cm cube, as panda-gym's
CUBE_MASS = 0.2  # kg
CUBE_FRICTION = 1.0
HAND_WEIGHT = 0.5
OBJECT_RANGE = 0.15  # cube and goal x, y uniform in [-0.15, 0.15]
MIN_GOAL_DISTANCE = 0.1  # a goal the cube already sits on would teach nothing
HAND_DISTANCE = "hand_distance"


def info_values(info: Any, key: str) -> np.ndarray | None:
    """info[key] from one info dict, or stacked from the sequence of them HER passes."""
    if info is None:
        return None
    if isinstance(info, dict):
        return None if key not in info else np.asarray(info[key])
    values = [item.get(key) for item in info]
    return None if any(v is None for v in values) else np.asarray(values)


class ObjectTask(GoalTask):
    name = "object"
    gripper = "closed"

    def __init__(self, sim: Sim, robot: Arm, reward_type: str = "dense") -> None:
        super().__init__(sim, robot, reward_type)
        self.client = sim.client
        self.cube = sim.create_box(
            (HALF_SIZE,) * 3,
            (0.0, 0.0, HALF_SIZE),
            rgba=(0.1, 0.1, 0.9, 1.0),
            mass=CUBE_MASS,
            friction=CUBE_FRICTION,
        )
        self.marker = sim.create_marker(HALF_SIZE, rgba=(0.1, 0.1, 0.9, 0.3))

    def sample_goal(self, np_random: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def reset(self, np_random: np.random.Generator) -> None:
        xy = np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        cube = np.array([xy[0], xy[1], HALF_SIZE])
        goal = self.sample_goal(np_random)
        while distance(goal, cube) < MIN_GOAL_DISTANCE:
            goal = self.sample_goal(np_random)
        self.goal = goal
        self.client.resetBasePositionAndOrientation(self.cube, list(cube), [0, 0, 0, 1])
        self.client.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0])
        self.sim.move_marker(self.marker, goal)

    def cube_position(self) -> np.ndarray:
        return np.array(self.client.getBasePositionAndOrientation(self.cube)[0])

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        position, orientation = self.client.getBasePositionAndOrientation(self.cube)
        linear, angular = self.client.getBaseVelocity(self.cube)
        euler = self.client.getEulerFromQuaternion(orientation)
        cube = np.array(position)
        relative = cube - robot_observation[:3]
        state = np.concatenate([cube, euler, linear, angular, relative])
        return state, cube, {HAND_DISTANCE: float(np.linalg.norm(relative))}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        d_goal = distance(achieved, desired)
        if self.reward_type == "sparse":
            return sparse_reward(d_goal)
        hand = info_values(info, HAND_DISTANCE)
        reward = d_goal if hand is None else d_goal + HAND_WEIGHT * hand
        return -np.asarray(reward, dtype=np.float32)
