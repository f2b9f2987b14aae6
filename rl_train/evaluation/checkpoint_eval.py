"""evaluate_checkpoint: a checkpoint's policy on fresh envs of its run's env id, and the
video of its first episodes: what `rl-train eval` runs."""

from __future__ import annotations

from pathlib import Path

from rl_train.errors import UserError
from rl_train.evaluation.episodes import EvalResult, evaluate
from rl_train.evaluation.policy import Target, load_policy
from rl_train.vec.failures import EnvWorkerError, close_quietly
from rl_train.vec.make import make_eval_vec_env


def evaluate_checkpoint(
    target: Target,
    episodes: int,
    seed: int,
    n_envs: int,
    deterministic: bool = True,
    video: Path | None = None,
    video_episodes: int = 0,
    size: tuple[int, int] | None = None,
) -> tuple[EvalResult, int]:
    """The result, and the frames written to `video` (0 without one)."""
    film = video is not None
    try:
        venv = make_eval_vec_env(target.config, n_envs, seed, film=film, video_size=size)
    except EnvWorkerError as exc:
        raise UserError(f"cannot build the env {target.config.env_id}: {exc}") from None
    broken = False
    try:
        model, venv = load_policy(target, venv)
        venv.seed(seed)
        result = evaluate(model, venv, episodes, deterministic, film=video_episodes if film else 0)
    except EnvWorkerError as exc:
        broken = True
        raise UserError(f"the evaluation stopped: {exc}") from None
    finally:
        close_quietly(venv, workers_broken=broken)
    if video is None:
        return result, 0
    from rl_train.evaluation.video import write_video

    return result, write_video(video, result.films, size)
