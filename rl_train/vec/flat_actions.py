"""FlatActions: an env with Dict or Tuple actions, acted on through one flat Box.

SB3's PPO acts in a Box, Discrete, MultiDiscrete or MultiBinary space only. A user's env
whose actions are a Dict or Tuple (nested too) is wrapped in its worker: the policy sees
gymnasium's flatten_space of it, and each action is unflattened before the env gets it.
gymnasium's own unflatten reads a Discrete leaf's one-hot block by its first non-zero
entry, which for a Gaussian policy's output is nearly always the first: here a Discrete
leaf is the block's largest entry, a MultiDiscrete one each sub-block's, a MultiBinary one
each entry over 0.5, and a Box leaf its block clipped to its bounds.

Lives in a torch-free module: env workers import it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def needs_flat_actions(space: gym.Space) -> bool:
    return isinstance(space, (spaces.Dict, spaces.Tuple))


def unflatten(space: gym.Space, flat: np.ndarray) -> Any:
    """The action of `space` that a flat vector of flatdim(space) entries stands for."""
    value, rest = _take(space, np.asarray(flat, dtype=np.float64))
    assert rest.size == 0, "the flat action is longer than the space"
    return value


def _take(space: gym.Space, flat: np.ndarray) -> tuple[Any, np.ndarray]:
    size = spaces.flatdim(space)
    block, rest = flat[:size], flat[size:]
    if isinstance(space, spaces.Dict):
        value = {}
        for key, sub in space.spaces.items():
            value[key], block = _take(sub, block)
        return value, rest
    if isinstance(space, spaces.Tuple):
        items = []
        for sub in space.spaces:
            item, block = _take(sub, block)
            items.append(item)
        return tuple(items), rest
    if isinstance(space, spaces.Discrete):
        return space.dtype.type(space.start + int(np.argmax(block))), rest
    if isinstance(space, spaces.MultiDiscrete):
        choices, offset = [], 0
        for n, start in zip(space.nvec.flat, space.start.flat, strict=True):
            choices.append(start + np.argmax(block[offset : offset + n]))
            offset += n
        return np.array(choices, dtype=space.dtype).reshape(space.shape), rest
    if isinstance(space, spaces.MultiBinary):
        return (block > 0.5).astype(space.dtype).reshape(space.shape), rest
    if isinstance(space, spaces.Box):
        clipped = np.clip(block.reshape(space.shape), space.low, space.high)
        return clipped.astype(space.dtype), rest
    raise TypeError(f"cannot act in {space} through a flat Box")


class FlatActions(gym.ActionWrapper):
    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = spaces.flatten_space(env.action_space)

    def action(self, action: np.ndarray) -> Any:
        return unflatten(self.env.action_space, action)
