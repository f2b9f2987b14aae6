"""Periodic checkpoints at rollout boundaries, with what an exact resume needs."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from rl_train.store import checkpoint
from rl_train.training import run_state


def rng_states() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])


def saved_rng_states(found: checkpoint.Checkpoint, state: dict[str, Any] | None) -> dict | None:
    """The RNG states in state.pkl, or in the rng.pkl of an older checkpoint."""
    if state is not None and RNG_KEY in state:
        return state[RNG_KEY]
    if found.rng_path is None:
        return None
    with open(found.rng_path, "rb") as f:
        return pickle.load(f)


def save_checkpoint(
    model: BaseAlgorithm, root: Path, step: int, meta: dict[str, Any], keep: int
) -> Path:
    """Write model (+ optimizer), VecNormalize statistics, RNG states and the envs' state
    atomically, then prune to the `keep` newest."""
    tmp = write_files(model, root, step, envs=True)
    final = checkpoint.commit_checkpoint(tmp, root, step, meta)
    checkpoint.prune(root, keep, protect={final})
    return final


def save_best(model: BaseAlgorithm, root: Path, step: int, meta: dict[str, Any]) -> Path:
    """The policy's files as root/best: the best policy so far (its score in meta); no
    env state (a best checkpoint is evaluated, never resumed)."""
    tmp = write_files(model, root, step, envs=False)
    return checkpoint.commit_checkpoint(tmp, root, step, meta, name=checkpoint.BEST_DIR)


def write_files(model: BaseAlgorithm, root: Path, step: int, envs: bool) -> Path:
    """model.zip, vecnormalize.pkl and state.pkl (the RNGs and, with `envs`, the state of
    the envs and their wrappers) in a new temporary folder."""
    tmp = checkpoint.new_tmp_dir(root, step)
    model.save(tmp / checkpoint.MODEL_FILE)
    vec_normalize = model.get_vec_normalize_env()
    if isinstance(vec_normalize, VecNormalize):
        vec_normalize.save(str(tmp / checkpoint.VECNORM_FILE))
    state = run_state.capture(model) if envs else {}
    run_state.write({RNG_KEY: rng_states(), **state}, tmp / checkpoint.STATE_FILE)
    return tmp


RNG_KEY = "rng"  # in state.pkl
PENDING_LOG_KEY = "pending_log"
ITERATIONS_KEY = "iterations"  # SB3's time/iterations counts on from here on resume


def pending_log_values(model: BaseAlgorithm) -> dict[str, float]:
    """What the SB3 logger holds but has not written yet.

    SB3 records an update's train/* values and writes them with the next rollout's row.
    A checkpoint at a rollout start falls in between, so a resume would lose that row's
    train/* values unless the checkpoint carries them (restore_pending_log)."""
    values = {}
    for key, value in model.logger.name_to_value.items():
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            values[key] = float(value)
    return values


def restore_pending_log(model: BaseAlgorithm, meta: dict[str, Any]) -> None:
    for key, value in meta.get(PENDING_LOG_KEY, {}).items():
        model.logger.record(key, value)


class CheckpointCallback(BaseCallback):
    """Saves every `every_steps` env steps, at the start of a rollout.

    At a rollout start the policy has just been updated and nothing of the next rollout
    is collected yet, so a resume from here replays training exactly from this step.
    """

    def __init__(
        self,
        root: Path,
        every_steps: int,
        keep: int,
        meta: Callable[[], dict[str, Any]],
        iterations: int = 0,
    ) -> None:
        super().__init__()
        self.root = root
        self.every_steps = every_steps
        self.keep = keep
        self.meta = meta
        self.listeners: list[Callable[[Path, int], None]] = []
        self.last_saved_step = -1
        self.iterations = iterations  # rollouts of the run so far, earlier sessions too
        self._next_step = 0

    def _on_training_start(self) -> None:
        self.last_saved_step = self.num_timesteps  # a resume starts from a saved step
        self._next_step = self._following(self.num_timesteps)

    def _following(self, step: int) -> int:
        if self.every_steps <= 0:
            return 2**62
        return (step // self.every_steps + 1) * self.every_steps

    def _on_rollout_start(self) -> None:
        if self.num_timesteps >= self._next_step:
            self.save(self.num_timesteps)
            self._next_step = self._following(self.num_timesteps)

    def _on_rollout_end(self) -> None:
        self.iterations += 1

    def _on_step(self) -> bool:
        checkpoint.fault_point("rollout", self.num_timesteps)
        return True

    def save(self, step: int) -> Path:
        meta = {
            **self.meta(),
            PENDING_LOG_KEY: pending_log_values(self.model),
            ITERATIONS_KEY: self.iterations,
        }
        path = save_checkpoint(self.model, self.root, step, meta, self.keep)
        self.last_saved_step = step
        for listener in self.listeners:
            listener(path, step)
        return path
