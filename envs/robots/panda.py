"""The Franka Panda (franka_panda/panda.urdf from pybullet_data), with its two-finger gripper.

Gripper action (pick-and-place): a in [-1, 1] sets the finger opening to (a + 1) / 2 x 8 cm.
"""

from __future__ import annotations

import numpy as np

from envs.robots.arm import Arm

ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINTS = (9, 10)
EE_LINK = 11  # panda_grasptarget: between the fingertips
NEUTRAL = np.array([0.0, 0.41, 0.0, -1.85, 0.0, 2.26, 0.79])
ARM_FORCES = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 120.0])
FINGER_FORCE = 170.0
MAX_OPENING = 0.08  # metres between the fingers, fully open
FINGER_FRICTION = 1.5  # rubber pads: a grasped cube must not slip out under gravity


class Panda(Arm):
    name = "panda"
    urdf = "franka_panda/panda.urdf"
    arm_joints = ARM_JOINTS
    ee_link = EE_LINK
    neutral = NEUTRAL
    forces = ARM_FORCES
    finger_links = FINGER_JOINTS  # a PyBullet link has its parent joint's index

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for joint in FINGER_JOINTS:
            self.client.changeDynamics(self.body, joint, lateralFriction=FINGER_FRICTION)

    def has_gripper(self) -> bool:
        return True

    def reset_gripper(self) -> None:
        opening = MAX_OPENING if self.gripper == "action" else 0.0
        for joint in FINGER_JOINTS:
            self.client.resetJointState(self.body, joint, opening / 2, 0.0)
        if self.gripper == "off":
            # Reach: unpowered fingers cost the solver nothing and touch nothing.
            self.client.setJointMotorControlArray(
                self.body, list(FINGER_JOINTS), self.client.VELOCITY_CONTROL, forces=[0.0, 0.0]
            )
        else:
            self._command_fingers(opening)

    def close_gripper_on(self, width: float) -> None:
        for joint in FINGER_JOINTS:
            self.client.resetJointState(self.body, joint, width / 2, 0.0)
        self._command_fingers(0.0)  # squeezing, as a closing command does

    def set_gripper(self, command: float) -> None:
        self._command_fingers((command + 1.0) / 2.0 * MAX_OPENING)

    def _command_fingers(self, opening: float) -> None:
        self.client.setJointMotorControlArray(
            self.body,
            list(FINGER_JOINTS),
            self.client.POSITION_CONTROL,
            targetPositions=[opening / 2, opening / 2],
            forces=[FINGER_FORCE, FINGER_FORCE],
        )

    def finger_opening(self) -> float:
        states = self.client.getJointStates(self.body, list(FINGER_JOINTS))
        return states[0][0] + states[1][0]

    def gripper_observation(self) -> list[float]:
        return [self.finger_opening()] if self.gripper == "action" else []
