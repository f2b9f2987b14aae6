"""A PyBullet client of our own (DIRECT mode), created inside the process that steps it.

Each env owns one client: no shared global connection, so several envs can live in one
worker process. The physics timestep and control period match panda-gym's 25 Hz control
at a finer physics step (1/250 s <= 1/240 s).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import numpy as np


@contextlib.contextmanager
def _quiet_c_output() -> Iterator[None]:
    """PyBullet's C code prints a banner at import and `argv[0]=` per connection, once
    per env: 16 envs would fill the user's terminal. Silence the C-level streams."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # what Python already wrote must not vanish with the C output
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


with _quiet_c_output():
    import pybullet
import pybullet_data  # noqa: E402
from pybullet_utils.bullet_client import BulletClient  # noqa: E402

from envs.control import PHYSICS_DT, SUBSTEPS  # noqa: E402

# Bullet's default is 50 sequential-impulse iterations per physics step; with the joints
# under position control 10 already converge (tests/test_envs.py checks that the arm
# tracks its targets and can grasp), at less than half the cost of a physics step.
SOLVER_ITERATIONS = 10
# The camera of render(): looking down at the table from the front right, arm and goals in view.
CAMERA_TARGET = (-0.2, 0.0, 0.2)
CAMERA_DISTANCE = 1.25
CAMERA_YAW, CAMERA_PITCH = 50, -25


class Sim:
    def __init__(
        self,
        physics_dt: float = PHYSICS_DT,
        substeps: int = SUBSTEPS,
        solver_iterations: int = SOLVER_ITERATIONS,
        visuals: bool = True,
    ) -> None:
        with _quiet_c_output():
            self.client = BulletClient(connection_mode=pybullet.DIRECT)
        self.client.setAdditionalSearchPath(pybullet_data.getDataPath())
        self.client.setTimeStep(physics_dt)
        # Sorted overlapping pairs: the solver visits contacts in the same order whatever
        # the history, part of "same seed, same trajectory".
        self.client.setPhysicsEngineParameter(
            numSolverIterations=solver_iterations, deterministicOverlappingPairs=1
        )
        self.client.setGravity(0, 0, -9.81)
        self.physics_dt = physics_dt
        self.substeps = substeps
        # The Panda's visual meshes cost ~45 MB and ~0.2 s per env and only matter to
        # render(): an env that will not render loads collision shapes only.
        self.visuals = visuals
        self._saved_state: int | None = None
        self._free_bodies: list[int] = []  # bodies that move: objects to push or grasp
        self._camera: tuple | None = None  # (size, view, projection) of the last render

    @property
    def control_dt(self) -> float:
        return self.physics_dt * self.substeps

    def step(self) -> None:
        step = self.client.stepSimulation  # one attribute lookup, not ten
        for _ in range(self.substeps):
            step()

    def save_initial_state(self) -> None:
        """Remember the freshly built world, so that every reset starts from it."""
        self._saved_state = self.client.saveState()

    def restore_initial_state(self) -> None:
        """Back to the world as built, with no memory of the last episode.

        Bullet keeps contact manifolds (and their warm-start impulses) between a free body
        and whatever it rests on, even across restoreState: a cube teleported to its new
        start would inherit the last episode's contacts, and a reset with a given seed
        would not replay exactly. Lifting free bodies away and running collision detection
        drops those pairs; restoreState then puts everything back where it was built.
        """
        if self._saved_state is None:
            return
        for body in self._free_bodies:
            self.client.resetBasePositionAndOrientation(body, [0.0, 0.0, 100.0], [0, 0, 0, 1])
        if self._free_bodies:
            self.client.performCollisionDetection()
        self.client.restoreState(stateId=self._saved_state)

    def load_urdf(self, name: str, base_position, fixed: bool = True) -> int:
        return self.client.loadURDF(
            name,
            basePosition=list(base_position),
            useFixedBase=fixed,
            flags=pybullet.URDF_ENABLE_CACHED_GRAPHICS_SHAPES
            if self.visuals
            else pybullet.URDF_IGNORE_VISUAL_SHAPES,
        )

    def create_box(
        self, half_extents, position, rgba=(0.9, 0.9, 0.9, 1.0), mass=0.0, friction=None
    ) -> int:
        collision = self.client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half_extents)
        visual = self.client.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=half_extents, rgbaColor=list(rgba)
        )
        body = self.client.createMultiBody(mass, collision, visual, basePosition=list(position))
        if friction is not None:
            self.client.changeDynamics(body, -1, lateralFriction=friction)
        if mass > 0:
            self._free_bodies.append(body)
        return body

    def create_marker(self, radius: float, rgba=(0.1, 0.9, 0.1, 0.4)) -> int:
        """A sphere that is only seen (no collision): goals and targets."""
        visual = self.client.createVisualShape(
            pybullet.GEOM_SPHERE, radius=radius, rgbaColor=list(rgba)
        )
        return self.client.createMultiBody(0.0, -1, visual, basePosition=[0, 0, 0])

    def move_marker(self, body: int, position) -> None:
        self.client.resetBasePositionAndOrientation(body, list(position), [0, 0, 0, 1])

    def render(self, width: int = 480, height: int = 360) -> np.ndarray:
        """An RGB image from TinyRenderer (headless: no display, no EGL), from a fixed camera
        that sees the table, the arm and the goals."""
        if self._camera is None or self._camera[0] != (width, height):
            view = self.client.computeViewMatrixFromYawPitchRoll(
                cameraTargetPosition=list(CAMERA_TARGET),
                distance=CAMERA_DISTANCE,
                yaw=CAMERA_YAW,
                pitch=CAMERA_PITCH,
                roll=0,
                upAxisIndex=2,
            )
            projection = self.client.computeProjectionMatrixFOV(
                fov=60, aspect=width / height, nearVal=0.1, farVal=10.0
            )
            self._camera = ((width, height), view, projection)
        _, view, projection = self._camera
        _, _, rgba, _, _ = self.client.getCameraImage(
            width,
            height,
            view,
            projection,
            renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,  # not needed, and not free
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3]

    def pose(self) -> list[tuple]:
        """Where everything is: each body's base pose and joint positions, enough to draw
        the world again (`set_pose`) in another Sim built the same way."""
        client = self.client
        pose = []
        for index in range(client.getNumBodies()):
            body = client.getBodyUniqueId(index)
            position, orientation = client.getBasePositionAndOrientation(body)
            joints = range(client.getNumJoints(body))
            states = client.getJointStates(body, joints) if joints else ()
            angles = tuple(state[0] for state in states)
            pose.append((position, orientation, angles))
        return pose

    def set_pose(self, pose: list[tuple]) -> None:
        """Put every body where `pose` says (no physics: for drawing only)."""
        client = self.client
        for index, (position, orientation, angles) in enumerate(pose):
            body = client.getBodyUniqueId(index)
            client.resetBasePositionAndOrientation(body, position, orientation)
            for joint, angle in enumerate(angles):
                client.resetJointState(body, joint, angle)

    def close(self) -> None:
        try:
            self.client.disconnect()
        except pybullet.error:
            pass  # already disconnected
