"""ReplayRecorder: a training env that can be put back, in another process, where it was.

Our envs are a deterministic function of their random generator's state at a reset and
the actions since (envs/sim.py resets the physics with no memory of earlier episodes), so
an env's state is small: that generator state and the current episode's actions, at most
one episode long. A resumed run builds fresh envs and replays each one to that state, bit
for bit, physics contacts included (which PyBullet's saveState does not keep).

A foreign env (another package's id) promises no such thing. For it the recorder keeps
only the generator's current state: a resume continues the random stream with a new
episode, so the envs never replay the run's first episodes, but the resume is not exact.

Lives in a torch-free module: env workers import it.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np

REPLAY = "replay"  # exact: replayed from the episode's start
STREAM = "stream"  # not exact: the random stream continues with a new episode


def _generator_state(env: gym.Env) -> dict[str, Any]:
    return copy.deepcopy(env.unwrapped.np_random.bit_generator.state)


def _set_generator_state(env: gym.Env, state: dict[str, Any]) -> None:
    env.unwrapped.np_random.bit_generator.state = copy.deepcopy(state)


class ReplayRecorder(gym.Wrapper):
    """Records what puts the env back where it is: `env_state()` and `restore_env_state()`
    (called by name through VecEnv.env_method)."""

    def __init__(self, env: gym.Env, exact: bool) -> None:
        super().__init__(env)
        self.exact = exact
        self._reset_seed: int | None = None
        self._reset_generator: dict[str, Any] | None = None
        self._actions: list[np.ndarray] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.exact:
            # The generator as the reset will find it: the reset's draws come from it.
            self._reset_seed = seed
            self._reset_generator = None if seed is not None else _generator_state(self.env)
            self._actions = []
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        if self.exact:
            self._actions.append(np.array(action, copy=True))
        return self.env.step(action)

    def env_state(self) -> dict[str, Any]:
        if not self.exact:
            return {"kind": STREAM, "generator": _generator_state(self.env)}
        return {
            "kind": REPLAY,
            "seed": self._reset_seed,
            "generator": self._reset_generator,
            "actions": list(self._actions),
        }

    def restore_env_state(self, state: dict[str, Any]) -> Any:
        """Put the env where `state` (from env_state) says; returns its observation."""
        if state["kind"] == STREAM:
            _set_generator_state(self.env, state["generator"])
            return self.reset()[0]
        if state["seed"] is None:
            _set_generator_state(self.env, state["generator"])
        observation, _ = self.reset(seed=state["seed"])
        for action in state["actions"]:
            observation = self.step(action)[0]
        return observation
