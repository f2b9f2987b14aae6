"""run_training(config): the trainer as a function, for the CLI, the sweep's trials and scripts.

It keeps the CLI's order: the run is validated and its W&B run started (light modules)
before torch is imported, so the two overlap. Keep this module's imports light.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from rl_train.config.train_config import TrainConfig

if TYPE_CHECKING:
    from rl_train.evaluation.result import EvalResult
    from rl_train.training.outcome import TrainResult


def run_training(
    config: TrainConfig,
    explicit: Collection[str] = (),
    resume: str | None = None,
    on_evaluation: Callable[[int, EvalResult], str | None] | None = None,
) -> TrainResult:
    """Train a new run from `config` (resolved here), or, with `resume` (a run dir, a
    checkpoint dir, a run name under config.output_dir, or "latest"), continue that run;
    `explicit` names the fields of `config` a resume may take over (the flags typed).
    `on_evaluation(step, result)` sees every evaluation; a string it returns stops the
    run early, saved. UserError for anything the caller can fix."""
    from rl_train.tracking import session

    if resume:
        from rl_train.config.resume import locate, resume_plan

        run_dir, named = locate(resume, config.output_dir)
        run_lock = session.lock_for_resume(run_dir)  # before anything of the run is read
        try:
            config, checkpoint = resume_plan(run_dir, named, config, set(explicit))
        except BaseException:
            run_lock.release()
            raise
        resumed = session.begin_resume(config, run_lock)
        _start_env_forkserver(config)
        from rl_train.training.trainer import resume_training

        return resume_training(resumed, checkpoint, on_evaluation)
    resolve_config(config, cli_n_envs_given="n_envs" in explicit)
    fresh = session.begin_fresh(config)
    _start_env_forkserver(config)
    from rl_train.training.trainer import train

    return train(fresh, on_evaluation)


def resolve_config(config: TrainConfig, cli_n_envs_given: bool = True) -> TrainConfig:
    """What the user typed, complete and validated: the env id it names (vec/env_ids.py),
    then the rest (config/resolve.py). Neither imports torch or SB3."""
    from rl_train.config.resolve import resolve
    from rl_train.vec.env_ids import env_id_of

    config.env_id = env_id_of(config.env, config)
    return resolve(config, cli_n_envs_given)


def _start_env_forkserver(config: TrainConfig) -> None:
    """Env workers fork from a server that imports their modules now, beside torch's import
    (rl_train/vec/forkserver.py)."""
    if config.vec_env in ("shm", "subproc"):
        from rl_train.vec import forkserver

        forkserver.start()
