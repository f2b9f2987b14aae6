"""What an exact resume needs beyond model.zip, and putting it back.

A checkpoint is taken at a rollout start. Stock SB3 files hold most of the state there:
model.zip the policy, optimizer, step count, SB3's last observation, episode starts and
episode-info buffers (PPO.load drops the observation unless force_reset=False);
vecnormalize.pkl the statistics; rng.pkl the RNGs of Python, numpy and torch. state.pkl
holds the rest, written here: each env's state (rl_train/vec/replay.py, or the kinematic
vec env's arrays), VecNormalize's running returns (VecNormalize.save drops them) and
VecMonitor's partial episodes. Without them a resume re-seeds and resets the envs, and
every env replays the run's first episodes.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from rl_train.vec.replay import REPLAY

NATIVE = "native"  # a vec env that steps its envs itself (envs/simple_vec.py)


def layers(venv: VecEnv) -> list[VecEnv]:
    """The vec env and the ones it wraps, outermost first."""
    found = [venv]
    while hasattr(found[-1], "venv"):
        found.append(found[-1].venv)
    return found


def _native(raw: VecEnv) -> bool:
    return callable(getattr(type(raw), "env_state", None))


def capture(model: BaseAlgorithm) -> dict[str, Any]:
    """The state of the training envs and their wrappers, now (at a rollout start)."""
    venv = model.get_env()
    assert venv is not None
    stack = layers(venv)
    raw = stack[-1]
    if _native(raw):
        envs = {"kind": NATIVE, "state": raw.env_state()}
    else:
        envs = {"kind": "per_env", "states": raw.env_method("env_state")}
    state: dict[str, Any] = {"n_envs": raw.num_envs, "envs": envs, "last_raw_obs": None}
    for layer in stack:
        if isinstance(layer, VecNormalize):
            state["vec_normalize_returns"] = layer.returns.copy()
            state["last_raw_obs"] = layer.old_obs
        elif isinstance(layer, VecMonitor):
            state["vec_monitor"] = {
                "episode_returns": layer.episode_returns.copy(),
                "episode_lengths": layer.episode_lengths.copy(),
                "episode_count": layer.episode_count,
            }
    if state["last_raw_obs"] is None:
        state["last_raw_obs"] = model._last_obs
    return state


def write(state: dict[str, Any], path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)


def read(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return pickle.load(f)


def fits(state: dict[str, Any] | None, n_envs: int, native: bool) -> str | None:
    """Why the saved env states cannot be put back into these envs (None: they can)."""
    if state is None:
        return "the checkpoint holds no env states (written by an older rl-train)"
    if state["n_envs"] != n_envs:
        return f"--n-envs changed from {state['n_envs']} to {n_envs}"
    if (state["envs"]["kind"] == NATIVE) != native:
        return "--vec-env changed between native and a per-env backend"
    return None


def is_native(venv: VecEnv) -> bool:
    return _native(layers(venv)[-1])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


def restore(model: BaseAlgorithm, state: dict[str, Any], env_id: str) -> str | None:
    """Put the envs and their wrappers where `state` (from capture, checked by fits) says.
    Returns why the resume is not exact, or None when it is."""
    venv = model.get_env()
    assert venv is not None
    stack = layers(venv)
    raw = stack[-1]
    raw._reset_seeds()  # PPO.load's set_random_seed queued the run's seeds for a reset
    envs = state["envs"]
    if envs["kind"] == NATIVE:
        observations = raw.restore_env_state(envs["state"])
        kinds = {REPLAY}
    else:
        observations = [
            raw.env_method("restore_env_state", env_state, indices=[i])[0]
            for i, env_state in enumerate(envs["states"])
        ]
        kinds = {env_state["kind"] for env_state in envs["states"]}
    for layer in stack:
        if isinstance(layer, VecNormalize):
            layer.returns = state["vec_normalize_returns"].copy()
        elif isinstance(layer, VecMonitor):
            saved = state["vec_monitor"]
            layer.episode_returns = saved["episode_returns"].copy()
            layer.episode_lengths = saved["episode_lengths"].copy()
            layer.episode_count = saved["episode_count"]
    if kinds != {REPLAY}:
        _start_new_episodes(model, stack, observations)
        return (
            f"{env_id} is not one of rl-train's envs: "
            "its state cannot be saved, so its envs continue their random streams with new "
            "episodes"
        )
    replayed = _stack(observations) if envs["kind"] != NATIVE else observations
    if not _same(replayed, state["last_raw_obs"]):
        return "the envs did not replay to their saved observations"
    return None


def _stack(observations: list[Any]) -> Any:
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


def _start_new_episodes(model: BaseAlgorithm, stack: list[VecEnv], observations: list) -> None:
    """Foreign envs began new episodes: SB3 learns from those, its episode counters too."""
    obs = _stack(observations)
    for layer in reversed(stack):  # innermost first, as a reset passes through them
        if isinstance(layer, VecMonitor):
            layer.episode_returns[:] = 0
            layer.episode_lengths[:] = 0
        elif isinstance(layer, VecNormalize):
            layer.returns[:] = 0
            layer.old_obs = obs
            obs = layer.normalize_obs(obs)
    model._last_obs = obs
    model._last_episode_starts = np.ones(len(observations), dtype=bool)


def start_fresh_episodes(venv: VecEnv, seed: int, step: int) -> None:
    """Envs whose saved states cannot be put back: seeds of their own for this resume
    point, so that the next reset does not replay the run's first episodes."""
    raw = layers(venv)[-1]
    seeds = np.random.SeedSequence([seed, step]).generate_state(raw.num_envs)
    raw._seeds = [int(s) for s in seeds]
