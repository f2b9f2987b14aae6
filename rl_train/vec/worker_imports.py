"""What every env worker imports, imported once in the forkserver (forkserver.py) so that
the workers forked from it start with it loaded. Torch-free, like the workers."""

from __future__ import annotations

import os

from rl_train.vec.shm_worker import THREAD_ENV_VARS

for _name in THREAD_ENV_VARS:  # before numpy starts its thread pools, as in a worker
    os.environ[_name] = "1"

import cloudpickle  # noqa: E402,F401  (unpickles the env constructors)
import gymnasium  # noqa: E402,F401
import numpy  # noqa: E402,F401

import envs  # noqa: E402,F401  (registers our env ids)
import envs.core  # noqa: E402,F401  (their entry point; loads PyBullet without its banner)
from rl_train.vec import env_factory  # noqa: E402,F401
