"""The KUKA LBR iiwa 14 (kuka_iiwa/model.urdf from pybullet_data): a 7-joint arm, no gripper.

Its last link frame sits at the flange; the tool point is 6.5 cm further out, 2 cm beyond
where the link's geometry ends, so that the wrist never scrapes the table.
"""

from __future__ import annotations

import numpy as np

from envs.robots.arm import Arm

# Elbow up, tool pointing down about 0.3 m above the table centre (found by a grid search
# over the planar joints 2, 4, 6).
NEUTRAL = np.array([0.0, 0.65, 0.0, -1.8, 0.0, 0.7, 0.0])
# The URDF's effort limits are 300 N m on every joint; the wrist needs far less to track.
FORCES = np.array([300.0, 300.0, 300.0, 300.0, 120.0, 120.0, 60.0])


class Kuka(Arm):
    name = "kuka"
    urdf = "kuka_iiwa/model.urdf"
    arm_joints = (0, 1, 2, 3, 4, 5, 6)
    ee_link = 6
    tool_offset = 0.065
    neutral = NEUTRAL
    forces = FORCES
