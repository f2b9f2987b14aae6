"""Pick and place: grasp the cube and bring it to a goal on the table or up to 20 cm above.

The gripper is one more action dimension. As in panda-gym, 30% of the goals lie on the
table (reachable by pushing too); the rest are in the air and need a grasp.
"""

from __future__ import annotations

import numpy as np

from envs.tasks.objects import HALF_SIZE, OBJECT_RANGE, ObjectTask

MAX_GOAL_HEIGHT = 0.2
TABLE_GOAL_FRACTION = 0.3


class PickAndPlace(ObjectTask):
    name = "pick_and_place"
    gripper = "action"

    def sample_goal(self, np_random: np.random.Generator) -> np.ndarray:
        xy = np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        lift = np_random.uniform(0.0, MAX_GOAL_HEIGHT)
        if np_random.random() < TABLE_GOAL_FRACTION:
            lift = 0.0
        return np.array([xy[0], xy[1], HALF_SIZE + lift])
