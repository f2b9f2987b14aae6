"""The user's own defaults, set once: `rl-train config set wandb-mode offline`.

What the offline-mode guide does with `wandb config --set mode offline`, for rl-train's own
settings, in $XDG_CONFIG_HOME/rl-train/config.yaml (~/.config/rl-train/config.yaml without
it). Precedence, highest first: the flag, then $WANDB_MODE (for the mode), then this file,
then the built-in default. `rl-train config show` says, for each key, which one decided.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from rl_train.errors import UserError
from rl_train.store.yaml_file import read_yaml

WANDB_MODES = ("offline", "online", "auto", "disabled")  # as train_config's, checked in tests
# key -> (built-in default, what it sets, allowed values or None)
KEYS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "wandb-mode": ("offline", "the default --wandb-mode", WANDB_MODES),
    "output-dir": ("runs", "the default --output-dir of every command", None),
    "wandb-project": ("rl-train", "the default --wandb-project", None),
}


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rl-train" / "config.yaml"


def load() -> dict[str, str]:
    """The file's settings ({} without a file); a broken file is one line naming it."""
    file = path()
    if not file.exists():
        return {}
    data = read_yaml(file, "", "fix it or remove it (rl-train config unset KEY rewrites it)")
    if data is None:
        return {}
    if not isinstance(data, dict) or any(key not in KEYS for key in data):
        unknown = sorted(set(data) - set(KEYS)) if isinstance(data, dict) else ["?"]
        raise UserError(
            f"{file}: unknown setting {unknown[0]!r}; settings are {', '.join(KEYS)} "
            "(rl-train config unset KEY removes one)"
        )
    return {key: str(value) for key, value in data.items()}


def get(key: str) -> str:
    """The file's value for `key`, else the built-in default."""
    return load().get(key, KEYS[key][0])


def check(key: str, value: str) -> None:
    if key not in KEYS:
        raise UserError(f"unknown setting {key!r}; settings are {', '.join(KEYS)}")
    allowed = KEYS[key][2]
    if allowed is not None and value not in allowed:
        raise UserError(f"{key} {value!r}: choose one of {', '.join(allowed)}")


def save(settings: dict[str, str]) -> Path:
    from rl_train.store.atomic import write_text_atomic

    file = path()
    file.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(file, yaml.safe_dump(settings, sort_keys=True) if settings else "")
    return file


@dataclass
class Setting:
    key: str
    value: str
    source: str  # "WANDB_MODE", "user config", "built-in default"


def effective() -> list[Setting]:
    """Each key's value where no flag is given, and what decided it."""
    settings, found = [], load()
    for key, (default, _, _) in KEYS.items():
        if key == "wandb-mode" and os.environ.get("WANDB_MODE", "").strip():
            settings.append(Setting(key, os.environ["WANDB_MODE"].strip(), "$WANDB_MODE"))
        elif key in found:
            settings.append(Setting(key, found[key], f"user config {path()}"))
        else:
            settings.append(Setting(key, default, "built-in default"))
    return settings
