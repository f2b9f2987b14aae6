"""ReplayRecorder: a training env that can be put back, in another process, where it was.

Our envs are a deterministic function of their random generator's state at a reset and
the actions since (envs/sim.py resets the physics with no memory of earlier episodes), so
an env's state is small: how its current episode started and the episode's actions. The
recorder reports the start in the reset's info (REPLAY_START, which travels back with the
reset as SB3's vec envs return it); the trainer logs the actions it sends
(vec/episode_log.py), so a checkpoint asks the workers nothing. A resumed run builds fresh
envs and replays each one's episode, bit for bit, physics contacts included (which
PyBullet's saveState does not keep).

A foreign env (another package's id) promises no such thing. For it the recorder reports
no start, and gives its generator's current state when asked: a resume continues the
random stream with a new episode, so the envs never replay the run's first episodes, but
the resume is not exact.

Lives in a torch-free module: env workers import it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

REPLAY_START = "rltrain_replay_start"  # reset info: how the episode started


def _generator_state(env: gym.Env) -> dict[str, Any]:
    return env.unwrapped.np_random.bit_generator.state  # a new dict each time


def _set_generator_state(env: gym.Env, state: dict[str, Any]) -> None:
    env.unwrapped.np_random.bit_generator.state = state


class ReplayRecorder(gym.Wrapper):
    """Reports each episode's start; `restore_env_state` and `generator_state` are called by
    name through VecEnv.env_method."""

    def __init__(self, env: gym.Env, exact: bool) -> None:
        super().__init__(env)
        self.exact = exact

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        # The generator as the reset finds it: the reset's draws come from it.
        start = {"seed": seed, "generator": None if seed is not None else self.generator_state()}
        observation, info = self.env.reset(seed=seed, options=options)
        if self.exact:
            info = {**info, REPLAY_START: start}
        return observation, info

    def generator_state(self) -> dict[str, Any]:
        return _generator_state(self.env)

    def restore_env_state(self, start: dict[str, Any], actions: Any) -> Any:
        """Replay an episode: reset as `start` says (REPLAY_START), then take `actions`.
        Returns the observation it ends on."""
        if start["seed"] is None:
            _set_generator_state(self.env, start["generator"])
        observation, _ = self.reset(seed=start["seed"])
        for action in actions:
            observation = self.step(action)[0]
        return observation

    def continue_stream(self, generator: dict[str, Any]) -> Any:
        """A foreign env: its generator where it was, and a new episode from it."""
        _set_generator_state(self.env, generator)
        return self.reset()[0]
