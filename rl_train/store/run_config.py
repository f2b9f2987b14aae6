"""config.yaml: the resolved config of a run, as a plain mapping (config/ makes the
TrainConfig of it). Written atomically: a resume reads it back, and `runs show` prints it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rl_train.errors import UserError
from rl_train.store.atomic import write_text_atomic
from rl_train.store.layout import CONFIG_FILE
from rl_train.store.yaml_file import read_yaml


def write_run_config(run_dir: Path, mapping: dict[str, Any]) -> None:
    write_text_atomic(run_dir / CONFIG_FILE, yaml.safe_dump(mapping, sort_keys=False))


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The mapping, or UserError naming the file and the fix."""
    path = run_dir / CONFIG_FILE
    fix = "restore it (the W&B run holds a copy of the config) or start a new run"
    data = read_yaml(path, "", fix, missing_fix="point at a run made by rl-train")
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a run config; {fix}")
    return data
