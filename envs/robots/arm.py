"""Arm: a position-controlled robot arm from a URDF, the part every robot shares.

A robot file only names its URDF, joints, end-effector link, rest pose and motor forces
(and a gripper, if it has one). Control modes:
  ee      action = end-effector displacement (x, y, z) in [-1, 1] x 5 cm, solved by IK,
          the tool pointing down at the table
  joints  action = joint target displacement in [-1, 1] x 0.05 rad per joint
Observation: end-effector position and linear velocity (world frame).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from gymnasium import spaces

from envs.control import BASE_POSITION, EE_STEP, JOINT_STEP

if TYPE_CHECKING:  # the physics engine loads only where an env is built
    from envs.sim import Sim

TOOL_DOWN = (1.0, 0.0, 0.0, 0.0)  # tool z axis pointing at the table (x, y, z, w)
CONTROL_MODES = ("ee", "joints")
# What a task needs of the gripper: "off" (unpowered and unobserved: reach), "closed"
# (held shut, a rigid pusher), "action" (one more action dimension opens/closes it, and
# the finger opening is observed).
GRIPPER_MODES = ("off", "closed", "action")
# IK stops at 1 mm: the loop closes every control step (the next target starts from the
# measured position), so finer solutions buy nothing but time.
IK_THRESHOLD = 1e-3
PLACE_PASSES = 4  # IK passes of place_hand: each starts where the last left the joints


class Arm:
    name = "arm"
    urdf = ""
    base_position = BASE_POSITION
    arm_joints: tuple[int, ...] = ()
    ee_link = -1
    tool_offset = 0.0  # metres along the EE link's z axis to the point that should reach
    neutral = np.zeros(0)
    forces = np.zeros(0)
    # Few IK iterations per control step are enough (the target is at most ~9 cm away);
    # tests/test_envs.py checks that the hand really reaches its goals.
    ik_iterations = 10
    finger_links: tuple[int, ...] = ()  # the links that touch what the gripper holds

    def __init__(self, sim: Sim, control: str = "ee", gripper: str = "off") -> None:
        if control not in CONTROL_MODES:
            raise ValueError(f"control {control!r} must be one of {CONTROL_MODES}")
        if gripper not in GRIPPER_MODES:
            raise ValueError(f"gripper {gripper!r} must be one of {GRIPPER_MODES}")
        if gripper != "off" and not self.has_gripper():
            raise ValueError(f"robot {self.name!r} has no gripper for this task")
        self.sim = sim
        self.client = sim.client
        self.control = control
        self.gripper = gripper
        self.body = sim.load_urdf(self.urdf, self.base_position)
        info = [self.client.getJointInfo(self.body, j) for j in self.arm_joints]
        self.lower = np.array([i[8] for i in info])
        self.upper = np.array([i[9] for i in info])
        self.ranges = self.upper - self.lower
        self._joint_list = list(self.arm_joints)
        self._forces = list(self.forces)
        self._ik_limits = {
            "lowerLimits": list(self.lower),
            "upperLimits": list(self.upper),
            "jointRanges": list(self.ranges),
            "restPoses": list(self.neutral),
        }
        size = (3 if control == "ee" else len(self.arm_joints)) + int(gripper == "action")
        self.action_space = spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32)
        self._ee_position: np.ndarray | None = None

    # -- what a robot with a gripper overrides ------------------------------------------
    def has_gripper(self) -> bool:
        return False

    def reset_gripper(self) -> None:
        pass

    def set_gripper(self, command: float) -> None:
        pass

    def gripper_observation(self) -> list[float]:
        return []

    # -- shared ----------------------------------------------------------------------------
    def reset(self) -> None:
        for joint, angle in zip(self.arm_joints, self.neutral, strict=True):
            self.client.resetJointState(self.body, joint, angle, 0.0)
        self.reset_gripper()
        self._command(self.neutral)
        self._ee_position = None

    def place_hand(self, position: np.ndarray) -> None:
        """Start with the tool point at `position` (pointing down): the joints set at once
        by IK (a few passes, each from the last), and held there by the motors."""
        for _ in range(PLACE_PASSES):
            joints = self.ee_target_to_joints(np.asarray(position, dtype=np.float64))
            for joint, angle in zip(self.arm_joints, joints, strict=True):
                self.client.resetJointState(self.body, joint, angle, 0.0)
        self._command(joints)
        self._ee_position = None

    def close_gripper_on(self, width: float) -> None:
        """Start with the fingers closed on an object `width` wide."""

    def joint_angles(self) -> np.ndarray:
        states = self.client.getJointStates(self.body, self._joint_list)
        return np.array([s[0] for s in states])

    def ee_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Tool position and linear velocity, in world coordinates.

        No computeForwardKinematics: stepSimulation and resetJointState already leave the
        link frames up to date, and recomputing them costs as much as reading them.
        """
        state = self.client.getLinkState(self.body, self.ee_link, computeLinkVelocity=1)
        if not self.tool_offset:
            return np.array(state[4]), np.array(state[6])
        axis = np.array(self.client.getMatrixFromQuaternion(state[5]))[2::3]  # z column
        lever = self.tool_offset * axis
        position = np.array(state[4]) + lever
        velocity = np.array(state[6]) + np.cross(np.array(state[7]), lever)
        return position, velocity

    def ee_target_to_joints(self, target: np.ndarray) -> np.ndarray:
        # The tool points down, so its link frame sits tool_offset above the tool point.
        link_target = [target[0], target[1], target[2] + self.tool_offset]
        angles = self.client.calculateInverseKinematics(
            self.body,
            self.ee_link,
            link_target,
            TOOL_DOWN,
            maxNumIterations=self.ik_iterations,
            residualThreshold=IK_THRESHOLD,
            **self._ik_limits,
        )
        return np.array(angles[: len(self.arm_joints)])

    def set_action(self, action: np.ndarray) -> np.ndarray:
        """Command the arm (and gripper); returns the arm joint targets it was sent."""
        # np.minimum/maximum: np.clip's dispatch costs more than the clipping, per step.
        action = np.minimum(np.maximum(action, -1.0), 1.0)
        arm_action = action[:-1] if self.gripper == "action" else action
        if self.control == "ee":
            # The position observed after the last step: env.step observes after every
            # step, so no second getLinkState is needed here.
            position = self._ee_position if self._ee_position is not None else self.ee_state()[0]
            target = position + EE_STEP * arm_action
            target[2] = max(0.0, target[2])  # never aim into the table
            joints = self.ee_target_to_joints(target)
        else:
            joints = self.joint_angles() + JOINT_STEP * arm_action
        joints = np.minimum(np.maximum(joints, self.lower), self.upper)
        self._command(joints)
        if self.gripper == "action":
            self.set_gripper(float(action[-1]))
        return joints

    def _command(self, joints: np.ndarray) -> None:
        self.client.setJointMotorControlArray(
            self.body,
            self._joint_list,
            self.client.POSITION_CONTROL,
            targetPositions=joints.tolist(),
            forces=self._forces,
        )

    def observation(self) -> np.ndarray:
        position, velocity = self.ee_state()
        self._ee_position = position
        gripper = self.gripper_observation()
        return np.concatenate([position, velocity, gripper] if gripper else [position, velocity])
