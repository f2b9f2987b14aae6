"""export_policy: a checkpoint's deterministic policy written as an ONNX or TorchScript
file, but only once the file, loaded back, acts as SB3's predict does on observations from
real episodes of the run's env.

The check plays the policy (SB3, deterministic) in evaluation envs of the run's env and
keeps every raw observation met; the file must give every one of those observations SB3's
action to within `tolerance`. The file is written under a temporary name beside the output
and renamed only after it passed: a refused or interrupted export leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecNormalize

import rl_train
from rl_train.config.train_config import TEST_SEEDS
from rl_train.errors import UserError
from rl_train.evaluation.policy import Target, load_policy
from rl_train.export.files import (
    CHECK_OBSERVATIONS,
    TOLERANCE,
    WRITERS,
    ExportedPolicy,
    flat_observations,
)
from rl_train.export.policy_graph import (
    DeterministicPolicy,
    observation_keys,
)
from rl_train.store.atomic import temporary_sibling
from rl_train.store.checkpoint import MODEL_FILE, sha256_of
from rl_train.store.layout import is_run_dir
from rl_train.vec.failures import EnvWorkerError, close_quietly
from rl_train.vec.make import make_eval_vec_env

CHECK_ENVS = 8


@dataclass
class ExportReport:
    path: Path
    format: str
    observations: int
    max_difference: float
    metadata: dict[str, Any]


def export_policy(
    target: Target,
    fmt: str,
    output: Path,
    observations: int = CHECK_OBSERVATIONS,
    tolerance: float = TOLERANCE,
) -> ExportReport:
    raw, expected, model, normalize = _played(target, observations)
    module = DeterministicPolicy(model.policy, normalize).eval()
    metadata = _metadata(target, model, normalize, fmt, len(raw), tolerance)
    temporary = temporary_sibling(output)
    try:
        WRITERS[fmt](module, raw.shape[1], temporary, metadata)
        actions = ExportedPolicy(temporary, fmt).act(raw)
        difference = _difference(actions, expected, model.action_space)
        if not difference <= tolerance:
            raise UserError(
                f"the exported {fmt} policy differs from SB3's by {difference:.2g} on "
                f"{len(raw):,} observations (more than {tolerance:g}); nothing written"
            )
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return ExportReport(output, fmt, len(raw), difference, metadata)


def _played(target: Target, count: int):
    """(raw flat observations [count, n], SB3's deterministic actions for them, model,
    VecNormalize or None): from episodes of the policy in evaluation envs."""
    config = target.config
    try:
        venv = make_eval_vec_env(config, CHECK_ENVS, config.seed + TEST_SEEDS)
    except EnvWorkerError as exc:
        raise UserError(f"cannot build the env {config.env_id}: {exc}") from None
    broken = False
    try:
        model, venv = load_policy(target, venv)
        normalize = venv if isinstance(venv, VecNormalize) else None
        raw, expected = [], []
        observation = venv.reset()
        while sum(len(r) for r in raw) < count:
            original = normalize.get_original_obs() if normalize is not None else observation
            action, _ = model.predict(observation, deterministic=True)
            raw.append(flat_observations(original, observation_keys(model.observation_space)))
            expected.append(np.asarray(action))
            observation, _, _, _ = venv.step(action)
    except EnvWorkerError as exc:
        broken = True
        raise UserError(f"the env stopped while the export was checked: {exc}") from None
    finally:
        close_quietly(venv, workers_broken=broken)
    return np.concatenate(raw)[:count], np.concatenate(expected)[:count], model, normalize


def _difference(actions: np.ndarray, expected: np.ndarray, action_space) -> float:
    if actions.shape != expected.shape:
        return float("inf")
    if isinstance(action_space, spaces.Discrete):
        return float(np.any(actions != expected))  # an index is right or wrong
    return float(np.max(np.abs(actions.astype(np.float64) - expected)))


def _metadata(target: Target, model, normalize, fmt, checked: int, tolerance: float) -> dict:
    """What a file says of itself (docs/deploy.md, "What the file holds")."""
    found, config = target.checkpoint, target.config
    action_space = model.action_space
    action: dict[str, Any] = {"space": str(action_space)}
    if isinstance(action_space, spaces.Box):
        action.update(shape=list(action_space.shape), low=action_space.low.tolist(),
                      high=action_space.high.tolist())  # fmt: skip
    else:
        action["n"] = int(action_space.n)
    run_dir = _run_dir_of(found.path)
    record = _record_of(run_dir)
    return {
        "format": fmt,
        "rl_train_version": rl_train.__version__,
        "env_id": config.env_id,
        "robot_type": config.robot_type,
        "use_simple_env": config.use_simple_env,
        "control_hz": _control_hz(config.env_id),
        "observation": {
            "space": str(model.observation_space),
            "keys": [[key, size] for key, size in observation_keys(model.observation_space)],
            "size": sum(size for _, size in observation_keys(model.observation_space)),
            "normalized_inside": normalize is not None and bool(normalize.norm_obs),
        },
        "action": action,
        "run_id": record.get("run_id"),
        "run_name": config.run_name or (run_dir.name if run_dir else None),
        "run_seed": config.seed,
        "checkpoint": target.which,
        "step": found.step,
        "checkpoint_sha256": sha256_of(found.path / MODEL_FILE),
        "checked": {"observations": checked, "tolerance": tolerance},
    }


def _run_dir_of(checkpoint_path: Path) -> Path | None:
    for parent in checkpoint_path.resolve().parents:
        if is_run_dir(parent):
            return parent
    return None


def _record_of(run_dir: Path | None) -> dict[str, Any]:
    import json

    from rl_train.store.layout import RECORD_FILE

    try:
        return json.loads((run_dir / RECORD_FILE).read_text()) if run_dir else {}
    except (OSError, ValueError):
        return {}


def _control_hz(env_id: str) -> float | None:
    """Actions per second of simulated time: our envs' control period, else the env's
    render_fps (panda-gym's is its control rate), else unknown."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers our ids)

    env = gym.make(env_id)
    try:
        sim = getattr(env.unwrapped, "sim", None)
        if sim is not None and getattr(sim, "control_dt", None):
            return round(1.0 / sim.control_dt, 6)
        fps = env.unwrapped.metadata.get("render_fps")
        return float(fps) if fps else None
    finally:
        env.close()
