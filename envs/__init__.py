"""Our gymnasium environments: Franka Panda tasks on PyBullet, and a kinematic Panda.

Importing this package only registers ids (entry points are strings), so it is cheap
and pulls in neither pybullet nor torch: a worker imports pybullet when it builds an env.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "rltrain"
EPISODE_STEPS = 50

# task name -> (PyBullet id, kinematic id or None)
TASKS: dict[str, tuple[str, str | None]] = {
    "reach": (f"{NAMESPACE}/PandaReach-v0", f"{NAMESPACE}/PandaReachSimple-v0"),
}
ROBOTS = ("panda",)


def _register(env_id: str, entry_point: str, **kwargs) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, max_episode_steps=EPISODE_STEPS, **kwargs)


_register(f"{NAMESPACE}/PandaReach-v0", "envs.core:PandaReachEnv")
_register(f"{NAMESPACE}/PandaReachSimple-v0", "envs.simple:SimpleReachEnv")


def registered_ids() -> list[str]:
    return sorted(env_id for env_id in gym.registry if env_id.startswith(f"{NAMESPACE}/"))


def resolve_env_id(env: str, simple: bool = False, robot: str = "panda") -> str:
    """Map what a user typed (a task name or an env id) to a registered id.

    Raises ValueError with a one-line message naming the valid choices.
    """
    if robot not in ROBOTS:
        raise ValueError(f"--robot-type {robot!r} is not supported; choose one of {ROBOTS}")
    if env in TASKS:
        physics_id, simple_id = TASKS[env]
        if simple and simple_id is None:
            raise ValueError(f"task {env!r} has no kinematic version; drop --use-simple-env")
        return simple_id if simple else physics_id
    if env in gym.registry:
        return env
    if f"{NAMESPACE}/{env}" in gym.registry:
        return f"{NAMESPACE}/{env}"
    choices = ", ".join([*TASKS, *registered_ids()])
    raise ValueError(f"unknown env {env!r}; choose one of: {choices}")
