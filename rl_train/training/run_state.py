"""What an exact resume needs beyond model.zip, and putting it back.

A checkpoint is taken at a rollout start. Stock SB3 files hold most of the state there:
model.zip the policy, optimizer, step count, SB3's last observation, episode starts and
episode-info buffers (PPO.load drops the observation unless force_reset=False);
vecnormalize.pkl the statistics. state.pkl holds the RNGs of Python, numpy and torch
(training/callbacks/checkpoint.py) and the rest, captured here: each env's state
(vec/episode_log.py and vec/replay.py, or the kinematic vec env's arrays), VecNormalize's running
returns (VecNormalize.save drops them) and VecMonitor's partial episodes. Without them a
resume re-seeds and resets the envs, and every env replays the run's first episodes.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv, VecMonitor, VecNormalize

from rl_train.config.train_config import SEED_STREAM
from rl_train.vec.episode_log import EpisodeLog

NATIVE = "native"  # a vec env that steps its envs itself (envs/simple_vec.py)
REPLAY = "replay"  # our envs: each one's episode start and actions, replayed on resume
STREAM = "stream"  # foreign envs: each one's random generator, continued on resume


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
    log = next((layer for layer in stack if isinstance(layer, EpisodeLog)), None)
    episodes = log.episodes() if log is not None else None
    if _native(raw):
        envs = {"kind": NATIVE, "state": raw.env_state()}
    elif episodes is not None:
        envs = {"kind": REPLAY, "episodes": episodes}
    else:  # foreign envs: only their random streams
        envs = {"kind": STREAM, "generators": raw.env_method("generator_state")}
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
    if state is None or "envs" not in state:
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
    elif envs["kind"] == REPLAY:
        observations = _stack(
            [
                raw.env_method("restore_env_state", e["start"], e["actions"], indices=[i])[0]
                for i, e in enumerate(envs["episodes"])
            ]
        )
        for layer in stack:
            if isinstance(layer, EpisodeLog):
                layer.load(envs["episodes"])
    else:
        observations = _stack(
            [
                raw.env_method("continue_stream", generator, indices=[i])[0]
                for i, generator in enumerate(envs["generators"])
            ]
        )
    for layer in stack:
        if isinstance(layer, VecNormalize):
            layer.returns = state["vec_normalize_returns"].copy()
        elif isinstance(layer, VecMonitor):
            saved = state["vec_monitor"]
            layer.episode_returns = saved["episode_returns"].copy()
            layer.episode_lengths = saved["episode_lengths"].copy()
            layer.episode_count = saved["episode_count"]
    if envs["kind"] == STREAM:
        _start_new_episodes(model, stack, observations)
        return (
            f"{env_id} is not one of rl-train's envs: its state cannot be saved, so its envs "
            "continue their random streams with new episodes"
        )
    if not _same(observations, state["last_raw_obs"]):
        return "the envs did not replay to their saved observations"
    return None


def _stack(observations: list[Any]) -> Any:
    if isinstance(observations[0], dict):
        return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
    return np.stack(observations)


def _start_new_episodes(model: BaseAlgorithm, stack: list[VecEnv], obs: Any) -> None:
    """Foreign envs began new episodes: SB3 learns from those, its episode counters too."""
    for layer in reversed(stack):  # innermost first, as a reset passes through them
        if isinstance(layer, VecMonitor):
            layer.episode_returns[:] = 0
            layer.episode_lengths[:] = 0
        elif isinstance(layer, VecNormalize):
            layer.returns[:] = 0
            layer.old_obs = obs
            obs = layer.normalize_obs(obs)
    model._last_obs = obs
    model._last_episode_starts = np.ones(stack[-1].num_envs, dtype=bool)


def start_fresh_episodes(venv: VecEnv, seed: int, step: int) -> None:
    """Envs whose saved states cannot be put back: seeds of their own for this resume
    point, so that the next reset does not replay the run's first episodes; in the
    training stream (past the first seeds), never a validation or test seed."""
    raw = layers(venv)[-1]
    n = raw.num_envs
    draws = np.random.SeedSequence([seed, step]).generate_state(n, dtype=np.uint64)
    raw._seeds = [seed + n + int(d) % max(1, SEED_STREAM - n) for d in draws]
