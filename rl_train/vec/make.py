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

from envs import is_ours
from rl_train.config.hyperparams import normalize_kwargs, train_env_kwargs
from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.machine import usable_cores
from rl_train.vec.env_factory import EnvFactory
from rl_train.vec.episode_log import EpisodeLog


def env_factories(config: TrainConfig) -> list[EnvFactory]:
    """The training envs' constructors, with the hyperparameters' train_env_kwargs."""
    kwargs = train_env_kwargs(config.hyperparams)
    return [
        EnvFactory(config.env_id, config.seed, rank, env_kwargs=kwargs, replayable=True)
        for rank in range(config.n_envs)
    ]


def _raw_vec_env(config: TrainConfig) -> VecEnv:
    if config.vec_env == "native":
        from envs.simple_vec import SimpleReachVecEnv

        if train_env_kwargs(config.hyperparams):
            raise UserError(
                "train_env_kwargs need envs built by gym.make; the kinematic reach with "
                "--vec-env native takes none: use --vec-env shm, or drop them"
            )

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
    """Workers, an EpisodeLog (what an exact resume replays; not for the kinematic vec env,
    which saves its arrays), then VecMonitor (episode stats), then VecNormalize (restored
    on resume)."""
    raw = _raw_vec_env(config)
    if config.vec_env != "native":
        raw = EpisodeLog(raw)
    venv = VecMonitor(raw)
    kwargs = normalize_kwargs(config.hyperparams)
    if kwargs is None:
        return venv
    if vecnormalize_path is not None:
        restored = VecNormalize.load(str(vecnormalize_path), venv)
        restored.training = True
        return restored
    return VecNormalize(venv, **kwargs)


def make_eval_vec_env(
    config: TrainConfig,
    n_envs: int,
    seed: int,
    film: bool = False,
    video_size: tuple[int, int] = (480, 360),
    meshes: bool = True,
    draw_later: bool = False,
    env_kwargs: dict | None = None,
) -> VecEnv:
    """Envs of the run's env id for evaluation only, never shared with training: the same
    kind of backend (the kinematic reach batched in numpy, PyBullet envs in their own
    shared-memory workers); with `film`, env 0 is wrapped in a FrameRecorder, and renders
    unless `draw_later` (it records poses, drawn elsewhere: it needs no renderer);
    `env_kwargs` go to every env (never the training's train_env_kwargs: evaluations play
    the task's standard starts). Monitored; not normalized (the caller freezes the
    statistics it evaluates with)."""
    env_kwargs = env_kwargs or {}
    if config.vec_env == "native":
        if film:
            raise UserError(
                f"{config.env_id} (the kinematic reach) has no renderer; record videos of a "
                "PyBullet run, or leave out the video"
            )
        from envs.simple_vec import SimpleReachVecEnv

        try:
            return VecMonitor(SimpleReachVecEnv(n_envs, seed=seed, **env_kwargs))
        except TypeError as exc:
            raise UserError(f"{config.env_id} (the kinematic reach): {exc}") from None
    ours = is_ours(config.env_id)

    def kwargs(rank: int) -> dict:
        return {**env_kwargs, **render_kwargs(rank)}

    def render_kwargs(rank: int) -> dict:
        if not film:
            return {}
        if not ours:  # all alike (SB3 wants one render mode); frames resized when written
            return {"render_mode": "rgb_array"}
        if rank or draw_later:  # only env 0 renders; the others load no visual meshes
            return {}
        # At `video_size`, with the visual meshes or (cheaper) the collision shapes.
        return {"render_mode": "rgb_array", "render_size": video_size, "render_meshes": meshes}

    factories = [
        EnvFactory(
            config.env_id,
            seed,
            rank,
            env_kwargs=kwargs(rank),
            record_frames=film and rank == 0,
            shown_render_mode=None if ours else "rgb_array",
            seeded_episodes=True,
        )
        for rank in range(n_envs)
    ]
    if config.vec_env == "dummy":
        return VecMonitor(DummyVecEnv(factories))
    from rl_train.vec.shm import ShmVecEnv

    return VecMonitor(ShmVecEnv(factories, n_workers=min(n_envs, usable_cores())))
