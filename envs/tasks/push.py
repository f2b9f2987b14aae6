"""Push: slide the cube across the table to a goal on the table, gripper held closed."""

from __future__ import annotations

import numpy as np

from envs.tasks.objects import HALF_SIZE, OBJECT_RANGE, ObjectTask


class Push(ObjectTask):
    name = "push"
    gripper = "closed"

    def sample_goal(self, np_random: np.random.Generator) -> np.ndarray:
        xy = np_random.uniform(-OBJECT_RANGE, OBJECT_RANGE, size=2)
        return np.array([xy[0], xy[1], HALF_SIZE])
