"""The control interface every arm env shares, PyBullet or kinematic: where the arm stands,
how often it is commanded, and how far one unit of action moves it.

Its own module, free of pybullet, so that the kinematic env (simple.py) uses the very
numbers the PyBullet envs (sim.py, robots/arm.py) use.
"""

from __future__ import annotations

BASE_POSITION = (-0.6, 0.0, 0.0)  # the arm's base on the table, world frame
PHYSICS_DT = 1.0 / 250.0  # finer than panda-gym's 1/240 s
SUBSTEPS = 10  # physics steps per control step
CONTROL_DT = 0.04  # = SUBSTEPS x PHYSICS_DT: 25 Hz control, as panda-gym's
EE_STEP = 0.05  # metres of end-effector displacement per unit action
JOINT_STEP = 0.05  # radians of joint target displacement per unit action
