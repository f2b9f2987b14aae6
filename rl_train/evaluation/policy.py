"""A checkpoint made ready to evaluate: which one (a run's best, latest or a step, or a
checkpoint dir), the run's config, and the model with its VecNormalize statistics frozen.

The statistics are loaded with training=False and rewards left raw: evaluating with
statistics that still update, or with normalized rewards, is the mistake SB3 and zoo users
keep reporting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from rl_train.config.hyperparams import normalize_kwargs
from rl_train.config.train_config import TrainConfig, read_config
from rl_train.errors import UserError
from rl_train.store import checkpoint, query
from rl_train.store.layout import CHECKPOINTS_DIR


@dataclass
class Target:
    checkpoint: checkpoint.Checkpoint
    config: TrainConfig
    which: str  # "best", "latest", "step", or "dir" (named by path)


def _validated(path: Path) -> checkpoint.Checkpoint:
    try:
        return checkpoint.validate(path)
    except checkpoint.CheckpointError as exc:
        raise UserError(f"{exc}; evaluate another checkpoint (--checkpoint)") from None


def find_target(spec: str, output_dir: Path, which: str | None) -> Target:
    """RUN (id, name or path) with --checkpoint latest|best|STEP (default: best, else
    latest), or a checkpoint dir."""
    path = Path(spec)
    if (path / checkpoint.META_FILE).is_file():
        if which is not None:
            raise UserError("--checkpoint goes with a RUN, not with a checkpoint dir")
        found = _validated(path)
        saved = found.meta.get("config")
        config = TrainConfig.from_dict(saved) if saved else read_config(path.parent.parent)
        return Target(found, config, "dir")
    run = query.resolve_run(output_dir, spec)
    root = run.path / CHECKPOINTS_DIR
    if which is None:
        which = "best" if (root / checkpoint.BEST_DIR).is_dir() else "latest"
    if which == "best":
        if not (root / checkpoint.BEST_DIR).is_dir():
            raise UserError(
                f"run {run.name} has no best checkpoint (no evaluation during its training); "
                "pass --checkpoint latest"
            )
        found = _validated(root / checkpoint.BEST_DIR)
    elif which == "latest":
        found, _ = checkpoint.find_latest_valid(root)
        if found is None:
            raise UserError(
                f"run {run.name} has no valid checkpoint yet; train it further "
                f"(rl-train --resume {run.path}) or evaluate another run"
            )
    elif which.isdigit():
        if not (root / which).is_dir():
            steps = ", ".join(p.name for p in checkpoint.list_checkpoints(root)) or "none"
            raise UserError(f"run {run.name} has no checkpoint {which}; it has: {steps}")
        found = _validated(root / which)
        which = "step"
    else:
        raise UserError(f"--checkpoint {which!r}: use latest, best or a step")
    config = read_config(run.path)
    if found.meta.get("env_id") not in (None, config.env_id):
        raise UserError(
            f"checkpoint {found.path} is for {found.meta['env_id']}, but run {run.name} "
            f"trains {config.env_id}; it does not belong to this run"
        )
    return Target(found, config, which)


def played_elsewhere(target: Target, env: str) -> Target:
    """The target, played in `env` (a task, an env id or module:EnvId) instead of its
    run's env: whether the policy fits it is for load_policy to say."""
    from rl_train.config.train_config import NATIVE_ENV_IDS
    from rl_train.vec.env_ids import env_id_of

    env_id = env_id_of(env, target.config)
    vec_env = target.config.vec_env
    if vec_env == "native" and env_id not in NATIVE_ENV_IDS:
        vec_env = "shm"  # the batched kinematic reach plays only itself
    config = dataclasses.replace(target.config, env=env, env_id=env_id, vec_env=vec_env)
    return Target(target.checkpoint, config, target.which)


def load_policy(target: Target, venv: VecEnv) -> tuple[Any, VecEnv]:
    """(model, venv with the checkpoint's statistics frozen and raw rewards)."""
    found = target.checkpoint
    if normalize_kwargs(target.config.hyperparams) is not None:
        if found.vecnormalize_path is None:
            raise UserError(
                f"{found.path} has no {checkpoint.VECNORM_FILE}, but the run normalizes its "
                "observations; evaluate another checkpoint (--checkpoint)"
            )
        try:
            venv = VecNormalize.load(str(found.vecnormalize_path), venv)
        except (ValueError, AssertionError) as exc:
            raise UserError(
                f"{found.path} does not fit the env {target.config.env_id} ({exc}); "
                "evaluate a checkpoint of this env"
            ) from None
        except Exception as exc:  # noqa: BLE001 (an unpickling error of any kind)
            raise UserError(
                f"{found.vecnormalize_path} is unreadable ({type(exc).__name__}); "
                "evaluate another checkpoint (--checkpoint)"
            ) from None
        venv.training = False
        venv.norm_reward = False
    try:
        model = PPO.load(found.model_path, env=venv, device="cpu")
    except (ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{found.path} does not fit the env {target.config.env_id} ({first}); "
            "evaluate a checkpoint of this env"
        ) from None
    return model, venv
