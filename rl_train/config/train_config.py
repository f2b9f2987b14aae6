"""TrainConfig: everything that decides a run; written to <run_dir>/config.yaml."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_train.errors import UserError
from rl_train.store.run_config import read_run_config, write_run_config

# auto: online when the server answers the start-up check, else offline (session.py).
WANDB_MODES = ("offline", "online", "auto", "disabled")
WANDB_ON = "on"  # --use-wandb: W&B in whichever mode is set, but not disabled
# How long the end of a run may wait for W&B's upload (--wandb-finish-timeout), seconds.
WANDB_FINISH_TIMEOUT_S = 60.0
VEC_ENVS = ("shm", "subproc", "dummy", "native")
NATIVE_ENV_IDS = ("rltrain/PandaReachSimple-v0",)  # envs with a batched numpy VecEnv
LOG_PROFILES = ("default", "heavy")
# Which checkpoints the W&B run holds (and `runs sync` uploads): every one written, the
# ones kept on disk, only the final one, or none.
WANDB_CHECKPOINTS = ("all", "kept", "final", "none")
DEVICES = ("cpu", "cuda", "auto")  # the learner's torch device; auto: cuda when there is one
# PPO's update and acting: fast (training/fast_learner.py where the policy allows, the same
# PPO to float rounding) or sb3 (SB3's own PPO.train). A run saved before the choice existed
# ran sb3 with one update thread, and resumes so (read_config).
LEARNERS = ("fast", "sb3")
LEGACY_LEARNER = {"learner": "sb3", "update_threads": 1}
DEFAULT_N_ENVS = 16
# The default --eval-freq: evaluations play at most this share of the run's env steps,
# and there are at most MAX_EVALUATIONS, the final one included (docs/evaluation.md).
EVAL_STEP_SHARE = 0.02
MAX_EVALUATIONS = 20
# An evaluation episode's length, for the default --eval-freq: the Panda tasks'
# (envs.EPISODE_STEPS; a test keeps the two equal, as config/ does not import the envs).
TASK_EPISODE_STEPS = 50
FINAL_EVAL_EPISODES = 50  # the end of training, and `rl-train eval` by default
# Three seed streams that never meet (docs/evaluation.md, "Seeds"), each SEED_STREAM wide:
# training env r starts from seed + r and draws its later episodes from its own stream;
# validation episode i (the evaluations during training, which choose best) starts from
# seed + VALIDATION_SEEDS + i, test episode i (the run's final report, `rl-train eval`) from
# seed + TEST_SEEDS + i.
SEED_STREAM = 1_000_000
VALIDATION_SEEDS = SEED_STREAM
TEST_SEEDS = 2 * SEED_STREAM
MAX_EVAL_ENVS = 16


@dataclass
class TrainConfig:
    """Defaults < shipped per-env hyperparameters < --config YAML < CLI flags (resolve.py)."""

    env: str = "reach"
    env_id: str = ""
    use_simple_env: bool = False
    robot_type: str = "panda"
    n_envs: int = DEFAULT_N_ENVS
    n_workers: int = 0  # 0: one per usable core (shm backend)
    total_timesteps: int = 0  # 0: the env's shipped n_timesteps
    seed: int = 0
    wandb_mode: str = "offline"
    wandb_project: str = "rl-train"
    wandb_entity: str | None = None
    wandb_checkpoints: str = "kept"
    wandb_finish_timeout: float = WANDB_FINISH_TIMEOUT_S
    run_name: str = ""
    output_dir: str = "runs"
    checkpoint_freq: int = 10_000
    keep_checkpoints: int = 3
    vec_env: str = "shm"  # see default_vec_env
    config_file: str | None = None
    config_file_sha256: str | None = None  # its contents at the start: a resume checks them
    resume: str | None = None
    log_profile: str = "default"  # heavy: per-episode metrics, histograms
    eval_freq: int | None = None  # env steps between evaluations; None: resolve() picks
    eval_episodes: int = 10
    eval_video: bool = False
    device: str = "cpu"
    learner: str = "fast"
    update_threads: int = 1  # torch threads of the update; 0: every usable core (resolve)
    wandb_group: str | None = None  # a sweep's trials share its name as their W&B group
    hyperparams: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_vec_env(use_simple_env: bool) -> str:
    """The kinematic reach steps all its envs in one numpy call in this process (no
    workers at all); PyBullet envs run in shared-memory workers, one per core."""
    return "native" if use_simple_env else "shm"


def wandb_mode_from_env(flag_value: str | None) -> str:
    """The --wandb-mode flag wins; otherwise WANDB_MODE; otherwise the user's config
    (`rl-train config set wandb-mode MODE`); otherwise offline. --use-wandb (WANDB_ON):
    what those say, but never disabled."""
    if flag_value == WANDB_ON:
        mode = wandb_mode_from_env(None)
        return "offline" if mode == "disabled" else mode
    if flag_value:
        return flag_value
    env_value = os.environ.get("WANDB_MODE", "").strip().lower()
    if not env_value:
        from rl_train.config import user_config

        return user_config.get("wandb-mode")
    aliases = {"dryrun": "offline", "run": "online"}
    mode = aliases.get(env_value, env_value)
    if mode not in WANDB_MODES:
        raise UserError(
            f"WANDB_MODE={env_value!r} is not a mode rl-train knows; "
            f"set it to one of {', '.join(WANDB_MODES)} or pass --wandb-mode"
        )
    return mode


def write_config(config: TrainConfig) -> None:
    write_run_config(config.run_dir, config.to_dict())


def read_config(run_dir: Path) -> TrainConfig:
    return TrainConfig.from_dict(LEGACY_LEARNER | read_run_config(run_dir))
