"""EpisodeLog: the trainer's record of how each env's current episode started, and its actions.

Wraps the training envs right above the backend: it sees every action as the workers get
it, and every reset's info, where each env's ReplayRecorder (vec/replay.py) reports the
episode's start. What it holds is each env's whole state (our envs are deterministic in
it), kept in the trainer so that a checkpoint costs no round trip to the workers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from rl_train.vec.replay import REPLAY_START


class EpisodeLog(VecEnvWrapper):
    def __init__(self, venv: VecEnv) -> None:
        super().__init__(venv)
        self.starts: list[dict[str, Any] | None] = [None] * self.num_envs
        self.actions: list[list[np.ndarray]] = [[] for _ in range(self.num_envs)]
        self._sent: np.ndarray | None = None

    def _started(self, env: int, info: dict[str, Any]) -> None:
        self.starts[env] = info.get(REPLAY_START)
        self.actions[env] = []

    def reset(self) -> VecEnvObs:
        observations = self.venv.reset()
        for env, info in enumerate(self.venv.reset_infos):
            self._started(env, info)
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self._sent = np.array(actions, copy=True)  # the rows below are views of this copy
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        for env, episode in enumerate(self.actions):
            episode.append(self._sent[env])
        for env in np.flatnonzero(dones).tolist():
            self._started(env, self.venv.reset_infos[env])
        return observations, rewards, dones, infos

    def episodes(self) -> list[dict[str, Any]] | None:
        """Each env's episode, its start and its actions; None unless every env reported
        its start (foreign envs report none)."""
        if any(start is None for start in self.starts):
            return None
        return [
            {"start": start, "actions": np.array(actions)}
            for start, actions in zip(self.starts, self.actions, strict=True)
        ]

    def load(self, episodes: list[dict[str, Any]]) -> None:
        """Go on from `episodes` (from `episodes()`), which the envs were replayed to."""
        for env, episode in enumerate(episodes):
            self.starts[env] = episode["start"]
            self.actions[env] = list(episode["actions"])
