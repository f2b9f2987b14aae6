"""PPO hyperparameters: the shipped per-env table (ppo.yml), a user's --config file, merged.

A hyperparameter mapping holds stable_baselines3.PPO(...) arguments plus a few keys of
our own (OWN_KEYS); ppo_kwargs() is what reaches PPO.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rl_train.errors import UserError
from rl_train.store.yaml_file import read_yaml

# Keys of a hyperparameter mapping that are ours rather than PPO(...) arguments;
# train_env_kwargs go to gym.make of the training envs only, never the evaluation envs.
OWN_KEYS = ("n_timesteps", "normalize", "policy", "n_envs", "train_env_kwargs")
NORMALIZE_KEYS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "epsilon")
# PPO arguments that may be a schedule, written rl-zoo style as "lin_<start value>".
SCHEDULED_KEYS = ("learning_rate", "clip_range")
# SB3's own defaults, for a mapping that leaves these out.
SB3_DEFAULTS = {"n_steps": 2048, "batch_size": 64}
DEFAULT_POLICY = "MlpPolicy"
FALLBACK_TIMESTEPS = 100_000


def shipped(env_id: str) -> dict[str, Any]:
    """The env's section of ppo.yml, or its `default` section."""
    text = resources.files("rl_train.config").joinpath("ppo.yml").read_text()
    table = yaml.safe_load(text)
    return dict(table.get(env_id, table["default"]))


def _load_yaml(path: Path) -> Any:
    return read_yaml(path, "config file ", "fix its syntax", missing_fix="check the --config path")


# The arguments of SB3's PPO() a config may set (not env, policy, or what the trainer sets
# itself), written out so that resolving a config never imports SB3 and torch before W&B
# starts; tests/config/test_resolution.py compares it with the installed SB3's signature.
PPO_ARGUMENTS = frozenset(
    (
        "batch_size",
        "clip_range",
        "clip_range_vf",
        "device",
        "ent_coef",
        "gae_lambda",
        "gamma",
        "learning_rate",
        "max_grad_norm",
        "n_epochs",
        "n_steps",
        "normalize_advantage",
        "policy_kwargs",
        "rollout_buffer_class",
        "rollout_buffer_kwargs",
        "sde_sample_freq",
        "seed",
        "stats_window_size",
        "target_kl",
        "use_sde",
        "vf_coef",
    )  # fmt: skip
)


def from_file(path: Path, env_id: str) -> dict[str, Any]:
    """A --config file's hyperparameters for env_id, validated (UserError names the key)."""
    data = _load_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of hyperparameters")
    # rl-zoo style files hold one section per env id; plain files hold one mapping.
    if env_id in data and isinstance(data[env_id], dict):
        data = data[env_id]
    return validate(data, f"config file {path}")


def validate(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A hyperparameter mapping checked key by key; `source` starts each error line."""
    allowed = PPO_ARGUMENTS | set(OWN_KEYS)
    unknown = sorted(set(data) - allowed)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise UserError(
            f"{source}: unknown key {unknown[0]!r}; {hint}"
            f"valid keys are PPO arguments and {', '.join(OWN_KEYS)} "
            f"(e.g. learning_rate, n_steps, batch_size)"
        )
    for key in SCHEDULED_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not re.fullmatch(r"lin_[0-9.eE+-]+", value):
            raise UserError(
                f"{source}: {key} {value!r} must be a number or lin_<number> (a linear decay to 0)"
            )
    env_kwargs = data.get("train_env_kwargs")
    if env_kwargs is not None and not isinstance(env_kwargs, dict):
        raise UserError(f"{source}: 'train_env_kwargs' must be a mapping of gym.make arguments")
    normalize = data.get("normalize")
    if normalize not in (None, True, False) and not isinstance(normalize, dict):
        raise UserError(f"{source}: 'normalize' must be true, false or a mapping")
    if isinstance(normalize, dict):
        bad = sorted(set(normalize) - set(NORMALIZE_KEYS))
        if bad:
            raise UserError(
                f"{source}: unknown normalize key {bad[0]!r}; valid: {', '.join(NORMALIZE_KEYS)}"
            )
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """override on top of base; nested mappings (policy_kwargs, normalize) merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def value(hyperparams: dict[str, Any], key: str) -> Any:
    """A PPO argument as PPO will see it: the mapping's, else SB3's default."""
    return hyperparams.get(key, SB3_DEFAULTS[key])


def rollout_size(hyperparams: dict[str, Any], n_envs: int) -> int:
    """Env steps per rollout: n_steps is per env."""
    return int(value(hyperparams, "n_steps")) * n_envs


def ppo_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """The PPO(...) arguments of a mapping: everything but OWN_KEYS."""
    return {k: v for k, v in hyperparams.items() if k not in OWN_KEYS}


def train_env_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any]:
    """gym.make arguments of the training envs beyond the env id's own (e.g. held_start)."""
    return dict(hyperparams.get("train_env_kwargs") or {})


def normalize_kwargs(hyperparams: dict[str, Any]) -> dict[str, Any] | None:
    """VecNormalize(...) arguments, or None when observations are not normalized."""
    normalize = hyperparams.get("normalize", False)
    if normalize is False or normalize is None:
        return None
    kwargs = dict(normalize) if isinstance(normalize, dict) else {}
    kwargs.setdefault("gamma", hyperparams.get("gamma", 0.99))
    return kwargs
