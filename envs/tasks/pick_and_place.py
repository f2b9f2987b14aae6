"""Pick and place: grasp the cube and bring it to a goal on the table or up to 20 cm above.

The gripper is one more action dimension. As in panda-gym, 30% of the goals lie on the
table (reachable by pushing too); the rest are in the air and need a grasp.

Rewards (reward_type), with d_hand the hand-to-cube and d_goal the cube-to-goal distance,
and lift / goal_lift the cube's and the goal's height above the cube's resting height:
  dense     staged, in [0, 1] (the shape of ManiSkill's PickCube reward, with a lift stage):
              reach  = 1 - tanh(REACH_SHARPNESS x d_hand)            in [0, 1]
              grasp  = 1 if both fingers press the cube from opposite sides, else 0
              lifted = grasp x [lift >= min(goal_lift, LIFT_HEIGHT) - LIFT_TOLERANCE]
              carry  = lifted x (1 - tanh(CARRY_SHARPNESS x d_goal))  in [0, 1]
              reward = (reach + grasp + lifted + carry) / 5, and 1 on success (d_goal < 5 cm)
            Each stage is bounded and gated by the one before: carrying pays only while
            grasped and lifted, so a cube pushed or flung towards the goal earns nothing
            until it is there, and a cube slid across the table under a goal in the air
            earns no carry: without the lift stage PPO learned exactly that (grasp, press
            down, slide: 43% success, 0% of goals over 7 cm; docs/performance/learning-runs.md).
            A goal on the table needs no lift: there lifted = grasp. The grasp comes from
            PyBullet's contact points, not from distances: a hand beside the cube with
            closed fingers is not holding it.
  distance  -(d_goal + 0.5 x d_hand), the objects' dense reward (this task's before)
  sparse    -1 until d_goal < 5 cm, then 0
held_start=p: that share of the episodes begins with the cube in the closed gripper (for
training: the evaluation envs never get it; see _start_held).
HER relabels goals: reach and grasp do not depend on the goal, so compute_reward reads
them from info["hand_distance"] and info["grasped"], which every step reports; lifted and
carry come from the achieved and desired goals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.tasks.base import SUCCESS_DISTANCE, distance
from envs.tasks.objects import (
    HALF_SIZE,
    HAND_DISTANCE,
    MIN_GOAL_DISTANCE,
    OBJECT_RANGE,
    ObjectTask,
    info_values,
)

MAX_GOAL_HEIGHT = 0.2
TABLE_GOAL_FRACTION = 0.3
HELD_MAX_LIFT = 0.1  # a held start holds the cube from resting on the table to 10 cm up
GRASPED = "grasped"
# In the info of every step of an env with held starts: did this episode begin with the
# cube held? The trainer counts those episodes' success apart (rl_train/training/model.py).
HELD_START = "held_start"
REACH_SHARPNESS = 5.0  # 1/m: reach is 0.54 at 10 cm, 0.90 at 2 cm
CARRY_SHARPNESS = 5.0
LIFT_HEIGHT = 0.03  # a goal in the air wants the cube held at least 3 cm up (or at its height)
LIFT_TOLERANCE = 0.005  # a cube resting on the table sits within 5 mm of its height
STAGES = 5.0  # reach + grasp + lifted + carry < 4; success pays the whole 5
# A grasp: each finger pushes on the cube with at least this force (N; the fingers close
# with up to 170 N, a finger brushing past the cube pushes with far less) ...
MIN_GRASP_FORCE = 1.0
# ... from opposite sides: the two contact normals at least 120 degrees apart (two fingers
# resting on the cube's top face point the same way).
MAX_NORMAL_COSINE = -0.5


class PickAndPlace(ObjectTask):
    name = "pick_and_place"
    gripper = "action"
    reward_types = ("dense", "distance", "sparse")
    options = ("held_start",)

    def __init__(self, sim, robot, reward_type: str = "dense", held_start: float = 0.0) -> None:
        if not 0.0 <= held_start <= 1.0:
            raise ValueError(f"held_start {held_start!r} must be a share between 0 and 1")
        super().__init__(sim, robot, reward_type)
        self.held_start = held_start
        self.started_held = False

    def reset(self, np_random: np.random.Generator) -> None:
        super().reset(np_random)
        # Drawn only when asked for: without held starts, episodes are what they were.
        self.started_held = bool(self.held_start and np_random.random() < self.held_start)
        if self.started_held:
            self._start_held(np_random)

    def _start_held(self, np_random: np.random.Generator) -> None:
        """The cube in the closed gripper, at its xy, from on the table to HELD_MAX_LIFT up.

        Why: PPO reaches and grasps the cube long before it ever lifts it, and by then its
        vertical action points down (as reaching the cube wants) so firmly that lifting is
        never tried (docs/performance/learning-runs.md). Episodes that begin with the cube
        held teach what to do with it, from the very state a grasp on the table leaves."""
        cube = self.cube_position()
        cube[2] = HALF_SIZE + np_random.uniform(0.0, HELD_MAX_LIFT)
        while distance(self.goal, cube) < MIN_GOAL_DISTANCE:
            self.goal = self.sample_goal(np_random)
        self.sim.move_marker(self.marker, self.goal)
        self.robot.place_hand(cube)
        self.robot.close_gripper_on(2 * HALF_SIZE)
        self.client.resetBasePositionAndOrientation(self.cube, list(cube), [0, 0, 0, 1])

    def sample_goal(self, np_random: np.random.Generator) -> np.ndarray:
        xy = np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        lift = np_random.uniform(0.0, MAX_GOAL_HEIGHT)
        if np_random.random() < TABLE_GOAL_FRACTION:
            lift = 0.0
        return np.array([xy[0], xy[1], HALF_SIZE + lift])

    def grasped(self) -> bool:
        """Both fingers press on the cube from opposite sides, as the last physics step's
        contacts say."""
        normals = []
        for link in self.robot.finger_links:
            points = self.client.getContactPoints(self.robot.body, self.cube, link, -1)
            force = sum(point[9] for point in points)
            if force < MIN_GRASP_FORCE:
                return False
            # contactNormalOnB points from the cube to the finger, weighted by its force
            normals.append(sum(np.array(point[7]) * point[9] for point in points) / force)
        if len(normals) != 2:
            return False
        cosine = np.dot(normals[0], normals[1]) / (
            np.linalg.norm(normals[0]) * np.linalg.norm(normals[1]) + 1e-9
        )
        return bool(cosine <= MAX_NORMAL_COSINE)

    def observe(self, robot_observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        state, cube, info = super().observe(robot_observation)
        info[GRASPED] = self.grasped()
        if self.held_start:
            info[HELD_START] = self.started_held
        return state, cube, info

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any = None):
        if self.reward_type != "dense":
            return super().compute_reward(achieved, desired, info)
        hand = info_values(info, HAND_DISTANCE)
        grasped = info_values(info, GRASPED)
        if hand is None or grasped is None:
            raise ValueError(
                f"the staged reward needs info[{HAND_DISTANCE!r}] and info[{GRASPED!r}], "
                "which every step of this env reports"
            )
        return staged_reward(achieved, desired, hand, grasped)


def staged_reward(achieved, desired, d_hand, grasped) -> np.ndarray:
    """The dense reward's formula (module docstring), batched over its arguments."""
    achieved, desired = np.asarray(achieved), np.asarray(desired)
    d_goal = distance(achieved, desired)
    lift = achieved[..., 2] - HALF_SIZE
    goal_lift = desired[..., 2] - HALF_SIZE
    grasp = np.asarray(grasped, dtype=np.float32)
    reach = 1.0 - np.tanh(REACH_SHARPNESS * np.asarray(d_hand))
    lifted = grasp * (lift >= np.minimum(goal_lift, LIFT_HEIGHT) - LIFT_TOLERANCE)
    carry = lifted * (1.0 - np.tanh(CARRY_SHARPNESS * d_goal))
    reward = (reach + grasp + lifted + carry) / STAGES
    return np.where(d_goal < SUCCESS_DISTANCE, 1.0, reward).astype(np.float32)
