"""SpacesEnv: a small env of any observation and action space, for the VecEnv contract tests.

Its observations are samples of the observation space from the env's own generator (so a
seed fixes them), it reports in the info the action it got (so a test sees what arrived),
ends an episode every `length` steps, renders a small image of its step count, and has an
attribute and a method for get_attr / set_attr / env_method. `make(spec)` builds one from a
picklable spec name (SPACES), for SB3's SubprocVecEnv as for ours.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def _box(shape, dtype=np.float32, low=-1.0, high=1.0):
    return spaces.Box(low, high, shape=shape, dtype=dtype)


SPACES = {
    "box": lambda: _box((3,)),
    "box-image": lambda: spaces.Box(0, 255, shape=(4, 5, 3), dtype=np.uint8),
    "box-int16": lambda: _box((2, 2), np.int16, -100, 100),
    "box-scalar": lambda: _box((), np.float64),
    "discrete": lambda: spaces.Discrete(5, start=2),
    "multi-discrete": lambda: spaces.MultiDiscrete([3, 4, 2]),
    "multi-binary": lambda: spaces.MultiBinary(6),
    "dict": lambda: spaces.Dict({"pos": _box((2,)), "mode": spaces.Discrete(3)}),
    "tuple": lambda: spaces.Tuple((_box((2,)), spaces.MultiBinary(3))),
    "nested": lambda: spaces.Dict(
        {
            "arm": spaces.Tuple((spaces.Discrete(4), _box((2,)))),
            "goal": spaces.Dict({"xyz": _box((3,)), "flags": spaces.MultiBinary(2)}),
        }
    ),
    "text": lambda: spaces.Text(max_length=6),
    "dict-with-text": lambda: spaces.Dict({"name": spaces.Text(max_length=4), "x": _box((1,))}),
}


class SpacesEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, obs: str = "box", act: str = "box", length: int = 3, render_mode=None):
        self.observation_space = SPACES[obs]()
        self.action_space = SPACES[act]()
        self.length = length
        self.render_mode = render_mode
        self.steps = 0
        self.level = 1  # get_attr / set_attr

    def _observe(self):
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self._observe(), {"options": options, "level": self.level}

    def step(self, action):
        assert self.action_space.contains(action), (action, self.action_space)
        self.steps += 1
        info = {"action": action, "step": self.steps}
        return self._observe(), float(self.steps), False, self.steps >= self.length, info

    def render(self):
        return np.full((2, 3, 3), self.steps, dtype=np.uint8)

    def scaled(self, factor: int, offset: int = 0) -> int:
        return self.level * factor + offset


gym.register("SpacesEnv-v0", entry_point="space_envs:SpacesEnv")
# For a training run through the CLI: PPO acts in a flat Box (rl_train/vec/flat_actions.py).
gym.register(
    "SpacesDictActions-v0",
    entry_point="space_envs:SpacesEnv",
    kwargs={"obs": "box", "act": "nested", "length": 10},
)

# A policy `rl-train export` refuses: PPO acts in a MultiDiscrete with a MultiCategorical.
gym.register(
    "SpacesMultiDiscrete-v0",
    entry_point="space_envs:SpacesEnv",
    kwargs={"obs": "box", "act": "multi-discrete", "length": 10},
)


class MakeSpacesEnv:
    """A picklable constructor (SubprocVecEnv and ShmVecEnv pickle it into their workers)."""

    def __init__(self, obs: str, act: str, **kwargs) -> None:
        self.obs, self.act, self.kwargs = obs, act, kwargs

    def __call__(self) -> gym.Env:
        import space_envs  # noqa: F401  (registers the id in the worker)

        return gym.wrappers.TimeLimit(SpacesEnv(self.obs, self.act, **self.kwargs), 100)
