"""The env id a user means: a task name (for a robot, physics or kinematic), a registered
id, or `package.module:EnvId`. Light: gymnasium and `envs`' registrations only."""

from __future__ import annotations

from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError


def _import_env_module(spec: str) -> str:
    """`package.module:EnvId`, as gymnasium.make accepts: the module registers the id."""
    import importlib

    import gymnasium

    module, _, env_id = spec.partition(":")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"--env {spec}: cannot import {module} ({exc})") from None
    if env_id not in gymnasium.registry:
        raise UserError(f"--env {spec}: {module} does not register {env_id}")
    return spec


def env_id_of(env: str, config: TrainConfig) -> str:
    """The env id `env` names (a task, an id, or module:EnvId), for the config's robot."""
    if ":" in env:
        return _import_env_module(env)
    import envs

    try:
        return envs.resolve_env_id(env, simple=config.use_simple_env, robot=config.robot_type)
    except ValueError as exc:
        raise UserError(str(exc)) from None
