"""Our gymnasium environments: Franka Panda and KUKA tasks on PyBullet, and a kinematic Panda.

Importing this package only registers ids (entry points are strings), so it is cheap
and pulls in neither pybullet nor torch: a worker imports pybullet when it builds an env.

Every PyBullet id also takes the RobotTaskEnv keyword arguments, e.g.
gym.make("rltrain/PandaPush-v0", obs_type="dict", reward_type="sparse") for HER.
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "rltrain"
EPISODE_STEPS = 50

# task name -> (Panda PyBullet id, kinematic id or None)
TASKS: dict[str, tuple[str, str | None]] = {
    "reach": (f"{NAMESPACE}/PandaReach-v0", f"{NAMESPACE}/PandaReachSimple-v0"),
    "push": (f"{NAMESPACE}/PandaPush-v0", None),
    "pick_and_place": (f"{NAMESPACE}/PandaPickAndPlace-v0", None),
}
ROBOTS = ("panda", "kuka")
# (robot, task) -> PyBullet id, for robots other than the Panda (whose ids are in TASKS)
ROBOT_TASKS: dict[tuple[str, str], str] = {("kuka", "reach"): f"{NAMESPACE}/KukaReach-v0"}
# id stem -> (robot, task); each gets -v0 (dense, ee control), Sparse-v0 and Joints-v0
_PHYSICS_ENVS = {
    "PandaReach": ("panda", "reach"),
    "PandaPush": ("panda", "push"),
    "PandaPickAndPlace": ("panda", "pick_and_place"),
    "KukaReach": ("kuka", "reach"),
}
_VARIANTS = {"": {}, "Sparse": {"reward_type": "sparse"}, "Joints": {"control": "joints"}}


def _register(env_id: str, entry_point: str, **kwargs) -> None:
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry_point, max_episode_steps=EPISODE_STEPS, **kwargs)


for _stem, (_robot, _task) in _PHYSICS_ENVS.items():
    for _suffix, _variant in _VARIANTS.items():
        _register(
            f"{NAMESPACE}/{_stem}{_suffix}-v0",
            "envs.core:RobotTaskEnv",
            kwargs={"robot": _robot, "task": _task, **_variant},
        )
_register(f"{NAMESPACE}/PandaReachSimple-v0", "envs.simple:SimpleReachEnv")


def is_ours(env_id: str) -> bool:
    """One of this package's envs (which take render_size, render_meshes, and have pose())."""
    return env_id.startswith(f"{NAMESPACE}/")


def registered_ids() -> list[str]:
    return sorted(env_id for env_id in gym.registry if is_ours(env_id))


def _task_env_id(task: str, simple: bool, robot: str) -> str:
    physics_id, simple_id = TASKS[task]
    if simple:
        if simple_id is None or robot != "panda":
            raise ValueError(
                f"task {task!r} has no kinematic version for --robot-type {robot}; "
                "drop --use-simple-env"
            )
        return simple_id
    if robot == "panda":
        return physics_id
    if (robot, task) not in ROBOT_TASKS:
        have = sorted(t for r, t in ROBOT_TASKS if r == robot)
        raise ValueError(f"--robot-type {robot} has no task {task!r}; it has: {', '.join(have)}")
    return ROBOT_TASKS[(robot, task)]


def resolve_env_id(env: str, simple: bool = False, robot: str = "panda") -> str:
    """Map what a user typed (a task name or an env id) to a registered id.

    Raises ValueError with a one-line message naming the valid choices.
    """
    if robot not in ROBOTS:
        raise ValueError(f"--robot-type {robot!r} is not supported; choose one of {ROBOTS}")
    if env in TASKS:
        return _task_env_id(env, simple, robot)
    if env in gym.registry:
        return env
    if f"{NAMESPACE}/{env}" in gym.registry:
        return f"{NAMESPACE}/{env}"
    choices = ", ".join([*TASKS, *registered_ids()])
    raise ValueError(f"unknown env {env!r}; choose one of: {choices}")
