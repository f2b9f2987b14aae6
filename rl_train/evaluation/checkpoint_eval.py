"""evaluate_checkpoint: a checkpoint's policy on fresh envs of its run's env id, and the
video of its first episodes: what `rl-train eval` runs."""

from __future__ import annotations

from pathlib import Path

from rl_train.errors import UserError
from rl_train.evaluation.episodes import evaluate
from rl_train.evaluation.policy import Target, load_policy
from rl_train.evaluation.result import EvalResult
from rl_train.vec.failures import EnvWorkerError, close_quietly
from rl_train.vec.make import make_eval_vec_env


def check_env_kwargs(env_id: str, env_kwargs: dict) -> None:
    """One env built here with `env_kwargs`, before any worker: a wrong keyword is one line."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers our ids)

    try:
        gym.make(env_id, **env_kwargs).close()
    except (TypeError, ValueError) as exc:
        raise UserError(f"--env-kwargs for {env_id}: {exc}") from None


def evaluate_checkpoint(
    target: Target,
    episodes: int,
    seed: int,
    n_envs: int,
    deterministic: bool = True,
    env_kwargs: dict | None = None,
    video: Path | None = None,
    video_episodes: int = 0,
    size: tuple[int, int] | None = None,
) -> tuple[EvalResult, int]:
    """The result of `episodes` episodes seeded from `seed`, and the frames written to
    `video` (0 without one)."""
    film = video is not None
    if env_kwargs and target.config.vec_env != "native":
        check_env_kwargs(target.config.env_id, env_kwargs)
    try:
        venv = make_eval_vec_env(
            target.config, n_envs, seed, film=film, video_size=size, env_kwargs=env_kwargs
        )
    except EnvWorkerError as exc:
        raise UserError(f"cannot build the env {target.config.env_id}: {exc}") from None
    broken = False
    try:
        model, venv = load_policy(target, venv)
        result = evaluate(
            model, venv, episodes, seed, deterministic, film=video_episodes if film else 0
        )
    except EnvWorkerError as exc:
        broken = True
        raise UserError(f"the evaluation stopped: {exc}") from None
    finally:
        close_quietly(venv, workers_broken=broken)
    if video is None:
        return result, 0
    from rl_train.evaluation.video import write_video

    return result, write_video(video, result.films, size)
