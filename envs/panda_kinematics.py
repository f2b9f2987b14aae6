"""Forward kinematics and Jacobian of the Franka Panda in numpy, batched over envs.

Franka's published modified-DH parameters (Craig convention); the last frame is the
grasp target between the fingertips, 0.105 m beyond the flange, as in panda.urdf.
Everything works on a batch (n, 7) of joint angles so that one numpy call advances
every env at once.
"""

from __future__ import annotations

import numpy as np

DH_A = np.array([0.0, 0.0, 0.0, 0.0825, -0.0825, 0.0, 0.088, 0.0])
DH_D = np.array([0.333, 0.0, 0.316, 0.0, 0.384, 0.0, 0.0, 0.107 + 0.105])
DH_ALPHA = np.array([0.0, -np.pi / 2, np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2, np.pi / 2, 0.0])
LOWER = np.array([-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671])
UPPER = np.array([2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671])
NEUTRAL = np.array([0.0, 0.41, 0.0, -1.85, 0.0, 2.26, 0.79])
_COS_ALPHA = np.cos(DH_ALPHA)
_SIN_ALPHA = np.sin(DH_ALPHA)


def frames(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint axes (n, 7, 3) and origins (n, 8, 3); origin 7 is the end effector."""
    n = q.shape[0]
    theta = np.concatenate([q, np.zeros((n, 1))], axis=1)
    ct, st = np.cos(theta), np.sin(theta)
    rotation = np.broadcast_to(np.eye(3), (n, 3, 3))
    position = np.zeros((n, 3))
    axes = np.empty((n, 7, 3))
    origins = np.empty((n, 8, 3))
    for i in range(8):
        # Modified DH: translate a along x, rotate alpha about x, translate d along z,
        # rotate theta about z.
        ca, sa = _COS_ALPHA[i], _SIN_ALPHA[i]
        local = np.empty((n, 3, 3))
        local[:, 0, 0], local[:, 0, 1], local[:, 0, 2] = ct[:, i], -st[:, i], 0.0
        local[:, 1, 0], local[:, 1, 1], local[:, 1, 2] = st[:, i] * ca, ct[:, i] * ca, -sa
        local[:, 2, 0], local[:, 2, 1], local[:, 2, 2] = st[:, i] * sa, ct[:, i] * sa, ca
        offset = np.array([DH_A[i], -sa * DH_D[i], ca * DH_D[i]])
        position = position + rotation @ offset
        rotation = rotation @ local
        if i < 7:
            axes[:, i] = rotation[:, :, 2]
        origins[:, i] = position
    return axes, origins


def forward(q: np.ndarray) -> np.ndarray:
    """End-effector positions (n, 3) in the robot base frame."""
    return frames(q)[1][:, 7]


def jacobian(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positional Jacobian (n, 3, 7) and end-effector positions (n, 3)."""
    axes, origins = frames(q)
    ee = origins[:, 7]
    lever = ee[:, None, :] - origins[:, :7]  # (n, 7, 3)
    columns = np.cross(axes, lever)  # each revolute joint moves the EE by axis x lever
    return columns.transpose(0, 2, 1), ee


def ik_step(q: np.ndarray, target: np.ndarray, damping: float = 0.05) -> np.ndarray:
    """One damped-least-squares step towards target (n, 3); joint limits respected."""
    jac, ee = jacobian(q)
    error = target - ee
    jjt = jac @ jac.transpose(0, 2, 1) + (damping**2) * np.eye(3)
    dq = (jac.transpose(0, 2, 1) @ np.linalg.solve(jjt, error[:, :, None]))[:, :, 0]
    return np.clip(q + dq, LOWER, UPPER)
