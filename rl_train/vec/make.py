"""make_vec_env(config): the parallel envs PPO learns on, monitored and normalized."""

from __future__ import annotations

from pathlib import Path

from stable_baselines3.common.vec_env import (
    DummyVecEnv,
    SubprocVecEnv,
    VecEnv,
    VecMonitor,
    VecNormalize,
)

from rl_train.config.hyperparams import normalize_kwargs
from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.machine import usable_cores
from rl_train.vec.env_factory import EnvFactory


def env_factories(config: TrainConfig) -> list[EnvFactory]:
    return [EnvFactory(config.env_id, config.seed, rank) for rank in range(config.n_envs)]


def _raw_vec_env(config: TrainConfig) -> VecEnv:
    if config.vec_env == "native":
        from envs.simple_vec import SimpleReachVecEnv

        return SimpleReachVecEnv(config.n_envs, seed=config.seed)
    factories = env_factories(config)
    if config.vec_env == "dummy":
        return DummyVecEnv(factories)
    if config.vec_env == "subproc":
        # forkserver: workers do not inherit this process's torch threads and locks.
        return SubprocVecEnv(factories, start_method="forkserver")
    if config.vec_env == "shm":
        from rl_train.vec.shm import ShmVecEnv

        return ShmVecEnv(factories, n_workers=config.n_workers or usable_cores())
    raise UserError(f"unknown --vec-env {config.vec_env!r}")


def make_vec_env(config: TrainConfig, vecnormalize_path: Path | None = None) -> VecEnv:
    """Workers, then VecMonitor (episode stats), then VecNormalize (restored on resume)."""
    venv = VecMonitor(_raw_vec_env(config))
    kwargs = normalize_kwargs(config.hyperparams)
    if kwargs is None:
        return venv
    if vecnormalize_path is not None:
        restored = VecNormalize.load(str(vecnormalize_path), venv)
        restored.training = True
        return restored
    return VecNormalize(venv, **kwargs)
