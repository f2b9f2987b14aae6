"""Forward kinematics, Jacobian and IK step of the Franka Panda, for one env or a batch.

Franka's published modified-DH parameters (Craig convention); the last frame is the
grasp target between the fingertips, 0.105 m beyond the flange, as in panda.urdf.

One implementation serves both sizes: the chain is written on 3-vectors whose components
are either Python floats (one env: no numpy call overhead, ~10x faster than tiny numpy
arrays) or numpy arrays of shape (n,) (a batch: one vectorized operation per component).
The twist angles are all 0 or +-90 degrees, so rotating about x is a signed swap of two
columns and only the joint rotation needs arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

DH_A = np.array([0.0, 0.0, 0.0, 0.0825, -0.0825, 0.0, 0.088, 0.0])
DH_D = np.array([0.333, 0.0, 0.316, 0.0, 0.384, 0.0, 0.0, 0.107 + 0.105])
DH_ALPHA = np.array([0.0, -np.pi / 2, np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2, np.pi / 2, 0.0])
LOWER = np.array([-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671])
UPPER = np.array([2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671])
NEUTRAL = np.array([0.0, 0.41, 0.0, -1.85, 0.0, 2.26, 0.79])
DAMPING = 0.05
# The DH parameters above, written into chain() joint by joint; the EE frame is d = 0.212.
_EE_D = float(DH_D[7])
_LOWER = LOWER.tolist()
_UPPER = UPPER.tolist()

Scalar = Any  # a float, or a numpy array (n,) for a batch
Vector = tuple[Scalar, Scalar, Scalar]


def _spin(c: float, s: float, x0, x1, x2, y0, y1, y2) -> tuple[float, ...]:
    """Rotate a frame's x and y axes by the joint angle (cos c, sin s) about its z axis."""
    return (
        c * x0 + s * y0,
        c * x1 + s * y1,
        c * x2 + s * y2,
        c * y0 - s * x0,
        c * y1 - s * x1,
        c * y2 - s * x2,
    )


def chain(
    cos: Sequence[Scalar], sin: Sequence[Scalar]
) -> tuple[list[Vector], list[Vector], Vector]:
    """Joint axes (7), joint origins (7) and the EE position, in the robot base frame.

    Written out joint by joint (x, y, z: the current frame's axes; p: its origin) because
    in CPython a loop over tuples costs twice the arithmetic. Modified DH per joint:
    translate a along x, rotate alpha about x (a signed swap of y and z), translate d
    along z, rotate theta about z. tests/test_envs.py checks it against PyBullet's FK.
    """
    c0, c1, c2, c3, c4, c5, c6 = cos
    s0, s1, s2, s3, s4, s5, s6 = sin
    # joint 1: rotation about the base z axis, 0.333 m up
    x0, x1, x2 = c0, s0, 0.0
    y0, y1, y2 = -s0, c0, 0.0
    pz = 0.333
    # joint 2: alpha -90 deg (y, z <- -z, y) at the same origin
    z0, z1, z2 = y0, y1, 0.0
    x0, x1, x2, y0, y1, y2 = c1 * x0, c1 * x1, -s1, -s1 * x0, -s1 * x1, -c1
    a1 = (z0, z1, z2)
    o1 = (0.0, 0.0, pz)
    px, py = 0.0, 0.0
    # joint 3: alpha +90 deg, a = 0.0, d = 0.316
    y0, y1, y2, z0, z1, z2 = z0, z1, z2, -y0, -y1, -y2
    px, py, pz = px + 0.316 * z0, py + 0.316 * z1, pz + 0.316 * z2
    x0, x1, x2, y0, y1, y2 = _spin(c2, s2, x0, x1, x2, y0, y1, y2)
    a2 = (z0, z1, z2)
    o2 = (px, py, pz)
    # joint 4: alpha +90 deg, a = 0.0825, d = 0.0
    y0, y1, y2, z0, z1, z2 = z0, z1, z2, -y0, -y1, -y2
    px, py, pz = px + 0.0825 * x0, py + 0.0825 * x1, pz + 0.0825 * x2
    x0, x1, x2, y0, y1, y2 = _spin(c3, s3, x0, x1, x2, y0, y1, y2)
    a3 = (z0, z1, z2)
    o3 = (px, py, pz)
    # joint 5: alpha -90 deg, a = -0.0825, d = 0.384
    y0, y1, y2, z0, z1, z2 = -z0, -z1, -z2, y0, y1, y2
    px, py, pz = px + -0.0825 * x0, py + -0.0825 * x1, pz + -0.0825 * x2
    px, py, pz = px + 0.384 * z0, py + 0.384 * z1, pz + 0.384 * z2
    x0, x1, x2, y0, y1, y2 = _spin(c4, s4, x0, x1, x2, y0, y1, y2)
    a4 = (z0, z1, z2)
    o4 = (px, py, pz)
    # joint 6: alpha +90 deg, a = 0.0, d = 0.0
    y0, y1, y2, z0, z1, z2 = z0, z1, z2, -y0, -y1, -y2
    x0, x1, x2, y0, y1, y2 = _spin(c5, s5, x0, x1, x2, y0, y1, y2)
    a5 = (z0, z1, z2)
    o5 = (px, py, pz)
    # joint 7: alpha +90 deg, a = 0.088, d = 0.0
    y0, y1, y2, z0, z1, z2 = z0, z1, z2, -y0, -y1, -y2
    px, py, pz = px + 0.088 * x0, py + 0.088 * x1, pz + 0.088 * x2
    x0, x1, x2, y0, y1, y2 = _spin(c6, s6, x0, x1, x2, y0, y1, y2)
    a6 = (z0, z1, z2)
    o6 = (px, py, pz)

    ee = (px + _EE_D * z0, py + _EE_D * z1, pz + _EE_D * z2)
    axes = [(0.0, 0.0, 1.0), a1, a2, a3, a4, a5, a6]
    origins = [(0.0, 0.0, 0.333), o1, o2, o3, o4, o5, o6]
    return axes, origins, ee


def _solve_symmetric_3x3(a: tuple, e: tuple) -> tuple:
    """(J J^T + damping^2 I)^-1 e by cofactors, for floats or arrays alike; a holds the
    symmetric positive definite matrix as (a00, a11, a22, a01, a02, a12)."""
    a00, a11, a22, a01, a02, a12 = a
    ex, ey, ez = e
    c00 = a11 * a22 - a12 * a12
    c01 = a02 * a12 - a01 * a22
    c02 = a01 * a12 - a02 * a11
    c11 = a00 * a22 - a02 * a02
    c12 = a01 * a02 - a00 * a12
    c22 = a00 * a11 - a01 * a01
    inverse_det = 1.0 / (a00 * c00 + a01 * c01 + a02 * c02)
    return (
        (c00 * ex + c01 * ey + c02 * ez) * inverse_det,
        (c01 * ex + c11 * ey + c12 * ez) * inverse_det,
        (c02 * ex + c12 * ey + c22 * ez) * inverse_det,
    )


def dls_step(
    q: Sequence[Scalar],
    axes: list[Vector],
    origins: list[Vector],
    ee: Vector,
    target: Vector,
    damping: float = DAMPING,
) -> list[float]:
    """One damped-least-squares step of one env's joints (floats) towards target; joint
    limits respected (dls_step_batch does the same for a batch)."""
    columns = []
    for (ax, ay, az), (ox, oy, oz) in zip(axes, origins, strict=True):
        lx, ly, lz = ee[0] - ox, ee[1] - oy, ee[2] - oz
        # a revolute joint moves the EE by axis x lever
        columns.append((ay * lz - az * ly, az * lx - ax * lz, ax * ly - ay * lx))
    a00 = a11 = a22 = damping * damping
    a01 = a02 = a12 = 0.0
    for jx, jy, jz in columns:
        a00 = a00 + jx * jx
        a11 = a11 + jy * jy
        a22 = a22 + jz * jz
        a01 = a01 + jx * jy
        a02 = a02 + jx * jz
        a12 = a12 + jy * jz
    error = (target[0] - ee[0], target[1] - ee[1], target[2] - ee[2])
    yx, yy, yz = _solve_symmetric_3x3((a00, a11, a22, a01, a02, a12), error)
    return [
        clip_scalar(qi + jx * yx + jy * yy + jz * yz, lo, hi)
        for qi, (jx, jy, jz), lo, hi in zip(q, columns, _LOWER, _UPPER, strict=True)
    ]


def _stack(vectors: list[Vector], n: int) -> np.ndarray:
    """7 vectors of (n,) components (or floats) -> (3, 7, n); row copies beat np.stack."""
    out = np.empty((3, len(vectors), n))
    for i, (x, y, z) in enumerate(vectors):
        out[0, i], out[1, i], out[2, i] = x, y, z
    return out


def dls_step_batch(
    q: np.ndarray,
    axes: list[Vector],
    origins: list[Vector],
    ee: Vector,
    target: Vector,
    damping: float = DAMPING,
) -> np.ndarray:
    """dls_step for a batch, q (7, n): the same sums on stacked (7, n) arrays, in ~50
    numpy calls instead of ~200 (equal to dls_step up to rounding)."""
    ax, ay, az = _stack(axes, q.shape[1])
    ox, oy, oz = _stack(origins, q.shape[1])
    lx, ly, lz = ee[0] - ox, ee[1] - oy, ee[2] - oz
    jx, jy, jz = ay * lz - az * ly, az * lx - ax * lz, ax * ly - ay * lx
    d2 = damping * damping
    a00, a11, a22 = d2 + (jx * jx).sum(0), d2 + (jy * jy).sum(0), d2 + (jz * jz).sum(0)
    a01, a02, a12 = (jx * jy).sum(0), (jx * jz).sum(0), (jy * jz).sum(0)
    error = (target[0] - ee[0], target[1] - ee[1], target[2] - ee[2])
    yx, yy, yz = _solve_symmetric_3x3((a00, a11, a22, a01, a02, a12), error)
    return np.clip(q + jx * yx + jy * yy + jz * yz, LOWER[:, None], UPPER[:, None])


def clip_scalar(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def chain_scalar(q: Sequence[float]) -> tuple[list[Vector], list[Vector], Vector]:
    return chain([math.cos(v) for v in q], [math.sin(v) for v in q])


def chain_batch(q: np.ndarray) -> tuple[list[Vector], list[Vector], Vector]:
    """q: joint angles (7, n), one row per joint."""
    return chain(list(np.cos(q)), list(np.sin(q)))


# -- array API on (n, 7) batches ----------------------------------------------------------
def frames(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint axes (n, 7, 3) and origins (n, 8, 3); origin 7 is the end effector."""
    axes, origins, ee = chain_batch(np.asarray(q, dtype=np.float64).T)
    n = len(q)
    axes_array = np.stack([np.stack(np.broadcast_arrays(*v, np.zeros(n))[:3], -1) for v in axes])
    points = [*origins, ee]
    origins_array = np.stack(
        [np.stack(np.broadcast_arrays(*v, np.zeros(n))[:3], -1) for v in points]
    )
    return axes_array.transpose(1, 0, 2), origins_array.transpose(1, 0, 2)


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
