"""resolve(config): from what the user typed to a complete, validated TrainConfig."""

from __future__ import annotations

import hashlib
import math
import re
import sys
from datetime import datetime
from pathlib import Path

from rl_train.config import hyperparams
from rl_train.config.train_config import (
    DEVICES,
    EVAL_STEP_SHARE,
    LEARNERS,
    MAX_EVALUATIONS,
    NATIVE_ENV_IDS,
    SEED_STREAM,
    TASK_EPISODE_STEPS,
    VEC_ENVS,
    WANDB_MODES,
    TrainConfig,
)
from rl_train.errors import UserError
from rl_train.machine import usable_cores


def default_run_name(env_id: str, seed: int) -> str:
    short = env_id.split("/")[-1].split(":")[-1]
    return f"{short}-s{seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def file_digest(path: str) -> str | None:
    """sha256 of a --config file (None if unreadable: the read reports that)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def resolve(config: TrainConfig, cli_n_envs_given: bool = True) -> TrainConfig:
    """Fill the hyperparameters, timesteps and run name; validate everything.
    Hyperparameters already in config.hyperparams override the shipped ones and
    --config's. config.env_id is already the id config.env names (vec/env_ids.py; the
    config layer does not import the envs): training/entry.py:resolve_config does both."""
    if not config.env_id:
        raise ValueError("resolve() needs config.env_id: use training.entry.resolve_config")

    table = hyperparams.shipped(config.env_id)
    if config.config_file:
        config.config_file_sha256 = file_digest(config.config_file)
        table = hyperparams.merge(
            table, hyperparams.from_file(Path(config.config_file), config.env_id)
        )
    if config.hyperparams:  # --hyperparams, or a sweep trial's: on top of everything
        table = hyperparams.merge(table, hyperparams.validate(config.hyperparams, "--hyperparams"))
    if not cli_n_envs_given and "n_envs" in table:
        config.n_envs = int(table["n_envs"])
    table.pop("n_envs", None)
    if not config.total_timesteps:
        config.total_timesteps = int(table.get("n_timesteps", hyperparams.FALLBACK_TIMESTEPS))
    config.hyperparams = table

    if config.n_envs < 1:
        raise UserError(f"--n-envs must be at least 1, got {config.n_envs}")
    if config.n_envs > SEED_STREAM:  # the training envs' seeds stay in their stream
        raise UserError(f"--n-envs must be at most {SEED_STREAM:,}, got {config.n_envs:,}")
    if config.total_timesteps < 1:
        raise UserError(f"--total-timesteps must be at least 1, got {config.total_timesteps}")
    if config.wandb_mode not in WANDB_MODES:
        raise UserError(f"--wandb-mode must be one of {', '.join(WANDB_MODES)}")
    if config.vec_env not in VEC_ENVS:
        raise UserError(f"--vec-env must be one of {', '.join(VEC_ENVS)}")
    if config.vec_env == "native" and config.env_id not in NATIVE_ENV_IDS:
        raise UserError(
            f"--vec-env native exists only for the kinematic reach (--use-simple-env), "
            f"not {config.env_id}; use --vec-env shm"
        )
    check_device(config.device)
    check_learner(config)
    if config.eval_freq is None:
        config.eval_freq = default_eval_freq(config)
    if config.eval_video and not config.eval_freq:
        raise UserError(
            "--eval-video films the evaluations during training, and --eval-freq 0 turns "
            "them off; drop one of the two (rl-train eval --video films any checkpoint)"
        )
    if config.eval_video and config.env_id in NATIVE_ENV_IDS:
        raise UserError(
            "--eval-video: the kinematic reach has no renderer; record videos of a PyBullet "
            "run (drop --use-simple-env)"
        )
    if not config.run_name:
        config.run_name = default_run_name(config.env_id, config.seed)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", config.run_name):
        raise UserError(
            f"--run-name {config.run_name!r} may use only letters, digits, '.', '_' and '-'"
        )
    round_to_rollouts(config)
    return config


def check_device(device: str) -> None:
    """--device cuda where torch sees no GPU: refused before anything is written. Only
    then is torch imported here (the CLI's start stays light for cpu and auto)."""
    if device not in DEVICES:
        raise UserError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                "--device cuda: torch sees no CUDA device here; use --device cpu, or auto "
                "to take a GPU only where there is one"
            )


def check_learner(config: TrainConfig) -> None:
    """--learner and --update-threads; 0 threads become every usable core, the number
    recorded in config.yaml so that a resume elsewhere updates alike (exact resume)."""
    if config.learner not in LEARNERS:
        raise UserError(f"--learner must be one of {', '.join(LEARNERS)}, not {config.learner!r}")
    if config.update_threads < 0:
        raise UserError(
            f"--update-threads must be 0 (every core) or more, got {config.update_threads}"
        )
    if not config.update_threads:
        config.update_threads = usable_cores()


def default_eval_freq(config: TrainConfig) -> int:
    """Evaluations (each at a rollout start) that play at most EVAL_STEP_SHARE of the
    run's env steps, at most MAX_EVALUATIONS of them with the final one: the shipped reach
    job gets one during training, a 3M-step push run 20. zoo's default is every 25k steps."""
    rollout = hyperparams.rollout_size(config.hyperparams, config.n_envs)
    cheap = math.ceil(config.eval_episodes * TASK_EPISODE_STEPS / EVAL_STEP_SHARE)
    return max(rollout, config.total_timesteps // MAX_EVALUATIONS, cheap)


def round_to_rollouts(config: TrainConfig, start_step: int = 0) -> None:
    """PPO only stops after whole rollouts; round the target up so the run ends exactly
    on it (and a resumed run ends on the same step an uninterrupted one would)."""
    rollout = hyperparams.rollout_size(config.hyperparams, config.n_envs)
    remaining = config.total_timesteps - start_step
    if remaining > 0 and remaining % rollout:
        rounded = start_step + -(-remaining // rollout) * rollout
        print(
            f"rl-train: note: --total-timesteps {config.total_timesteps:,} rounded up to "
            f"{rounded:,}, a whole number of rollouts of {rollout:,} steps",
            file=sys.stderr,
        )
        config.total_timesteps = rounded
