"""TrainConfig: defaults < shipped per-env hyperparameters < --config YAML < CLI flags."""

from __future__ import annotations

import dataclasses
import inspect
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rl_train.errors import UserError

WANDB_MODES = ("offline", "online", "disabled")
VEC_ENVS = ("shm", "subproc", "dummy", "native")
NATIVE_ENV_IDS = ("rltrain/PandaReachSimple-v0",)  # envs with a batched numpy VecEnv
LOG_PROFILES = ("default", "heavy")
# Keys of a hyperparameter file that are ours rather than PPO(...) arguments.
OWN_HYPERPARAM_KEYS = ("n_timesteps", "normalize", "policy", "n_envs")
NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "epsilon")
# PPO arguments that may be a schedule, written rl-zoo style as "lin_<start value>".
SCHEDULED_KEYS = ("learning_rate", "clip_range")


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The processor's name, as the benchmarks report the machine they ran on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass
class TrainConfig:
    """Everything that decides a run; written to runs/<name>/config.yaml."""

    env: str = "reach"
    env_id: str = ""
    use_simple_env: bool = False
    robot_type: str = "panda"
    n_envs: int = 16
    n_workers: int = 0  # 0: one per usable core (shm backend)
    total_timesteps: int = 0  # 0: the env's shipped n_timesteps
    seed: int = 0
    wandb_mode: str = "offline"
    wandb_project: str = "rl-train"
    wandb_entity: str | None = None
    run_name: str = ""
    output_dir: str = "runs"
    checkpoint_freq: int = 10_000
    keep_checkpoints: int = 3
    vec_env: str = "shm"  # measured fastest: benchmarks/throughput.py (see default_vec_env)
    config_file: str | None = None
    resume: str | None = None
    log_profile: str = "default"  # heavy: per-episode metrics, histograms (benchmarks)
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
    """The --wandb-mode flag wins; otherwise WANDB_MODE; otherwise offline."""
    if flag_value:
        return flag_value
    env_value = os.environ.get("WANDB_MODE", "").strip().lower()
    aliases = {"dryrun": "offline", "run": "online", "": "offline"}
    mode = aliases.get(env_value, env_value)
    if mode not in WANDB_MODES:
        raise UserError(
            f"WANDB_MODE={env_value!r} is not a mode rl-train knows; "
            f"set it to one of {', '.join(WANDB_MODES)} or pass --wandb-mode"
        )
    return mode


def _load_yaml(path: Path) -> Any:
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist; check the --config path") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UserError(f"config file {path} is not valid YAML{where}; fix its syntax") from None
    except OSError as exc:
        raise UserError(f"cannot read config file {path}: {exc.strerror}") from None


def shipped_hyperparams(env_id: str) -> dict[str, Any]:
    text = resources.files("rl_train.hyperparams").joinpath("ppo.yml").read_text()
    table = yaml.safe_load(text)
    return dict(table.get(env_id, table["default"]))


def _ppo_argument_names() -> set[str]:
    from stable_baselines3 import PPO  # lazy: keeps `rl-train --help` fast

    names = set(inspect.signature(PPO.__init__).parameters)
    return names - {"self", "env", "policy", "_init_setup_model", "tensorboard_log", "verbose"}


def _file_hyperparams(path: Path, env_id: str) -> dict[str, Any]:
    data = _load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of hyperparameters")
    # rl-zoo style files hold one section per env id; plain files hold one mapping.
    if env_id in data and isinstance(data[env_id], dict):
        data = data[env_id]
    allowed = _ppo_argument_names() | set(OWN_HYPERPARAM_KEYS)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserError(
            f"config file {path}: unknown key {unknown[0]!r}; "
            f"valid keys are PPO arguments and {', '.join(OWN_HYPERPARAM_KEYS)} "
            f"(e.g. learning_rate, n_steps, batch_size)"
        )
    for key in SCHEDULED_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not re.fullmatch(r"lin_[0-9.eE+-]+", value):
            raise UserError(
                f"config file {path}: {key} {value!r} must be a number or lin_<number> "
                "(a linear decay to 0)"
            )
    normalize = data.get("normalize")
    if normalize not in (None, True, False) and not isinstance(normalize, dict):
        raise UserError(f"config file {path}: 'normalize' must be true, false or a mapping")
    if isinstance(normalize, dict):
        bad = sorted(set(normalize) - set(NORMALIZE_KEYS))
        if bad:
            raise UserError(
                f"config file {path}: unknown normalize key {bad[0]!r}; "
                f"valid: {', '.join(NORMALIZE_KEYS)}"
            )
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _resolve_env_id(envs_module: Any, config: TrainConfig) -> str:
    try:
        return envs_module.resolve_env_id(
            config.env, simple=config.use_simple_env, robot=config.robot_type
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


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


def _default_run_name(env_id: str, seed: int) -> str:
    short = env_id.split("/")[-1].split(":")[-1]
    return f"{short}-s{seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def resolve(config: TrainConfig, cli_n_envs_given: bool = True) -> TrainConfig:
    """Fill env_id, hyperparameters, timesteps and run name; validate everything."""
    import envs

    if ":" in config.env:
        config.env_id = _import_env_module(config.env)
    else:
        config.env_id = _resolve_env_id(envs, config)

    hyperparams = shipped_hyperparams(config.env_id)
    if config.config_file:
        from_file = _file_hyperparams(Path(config.config_file), config.env_id)
        hyperparams = _merge(hyperparams, from_file)
    if not cli_n_envs_given and "n_envs" in hyperparams:
        config.n_envs = int(hyperparams["n_envs"])
    hyperparams.pop("n_envs", None)
    if not config.total_timesteps:
        config.total_timesteps = int(hyperparams.get("n_timesteps", 100_000))
    config.hyperparams = hyperparams

    if config.n_envs < 1:
        raise UserError(f"--n-envs must be at least 1, got {config.n_envs}")
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
    if not config.run_name:
        config.run_name = _default_run_name(config.env_id, config.seed)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", config.run_name):
        raise UserError(
            f"--run-name {config.run_name!r} may use only letters, digits, '.', '_' and '-'"
        )
    round_to_rollouts(config)
    return config


def round_to_rollouts(config: TrainConfig, start_step: int = 0) -> None:
    """PPO only stops after whole rollouts; round the target up so the run ends exactly
    on it (and a resumed run ends on the same step an uninterrupted one would)."""
    rollout = int(config.hyperparams.get("n_steps", 2048)) * config.n_envs
    remaining = config.total_timesteps - start_step
    if remaining > 0 and remaining % rollout:
        rounded = start_step + -(-remaining // rollout) * rollout
        print(
            f"rl-train: note: --total-timesteps {config.total_timesteps:,} rounded up to "
            f"{rounded:,}, a whole number of rollouts of {rollout:,} steps",
            file=sys.stderr,
        )
        config.total_timesteps = rounded


def write_config(config: TrainConfig, path: Path) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)


def read_config(path: Path) -> TrainConfig:
    data = _load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a run config; point at a run made by rl-train")
    return TrainConfig.from_dict(data)
