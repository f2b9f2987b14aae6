"""SpaceLayout: how ShmVecEnv carries the values of a gymnasium space between processes.

A space is a tree: Dict and Tuple spaces branch, any other space is a leaf. A leaf with a
fixed shape and dtype (Box of any dtype and shape, Discrete, MultiDiscrete, MultiBinary)
lives in shared memory, one array of (n_envs, *shape); any other leaf (Text, Graph,
Sequence, a space of a user's own) travels pickled in the step's messages. Batched values
come back as SB3's vec envs return them: an array for a leaf, a dict or tuple of arrays for
a Dict or Tuple space, nested the same way as the space.

Lives in a torch-free module: env workers import it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

LeafPath = tuple  # the keys (Dict) and positions (Tuple) from the root to a leaf


def _leaves(space: gym.Space, path: LeafPath = ()) -> list[tuple[LeafPath, gym.Space]]:
    if isinstance(space, spaces.Dict):
        return [leaf for key, sub in space.spaces.items() for leaf in _leaves(sub, (*path, key))]
    if isinstance(space, spaces.Tuple):
        return [leaf for i, sub in enumerate(space.spaces) for leaf in _leaves(sub, (*path, i))]
    return [(path, space)]


def in_shared_memory(space: gym.Space) -> bool:
    fixed = isinstance(
        space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
    )
    return fixed and space.shape is not None and space.dtype is not None


def _get(value: Any, path: LeafPath) -> Any:
    for key in path:
        value = value[key]
    return value


def stack(values: list[Any]) -> Any:
    """Per-env values of a pickled leaf, batched as SubprocVecEnv does (np.stack), or as
    an object array where they do not stack (text of different lengths, graphs)."""
    try:
        return np.stack(values)
    except (ValueError, TypeError):
        batch = np.empty(len(values), dtype=object)
        batch[:] = values
        return batch


class SpaceLayout:
    def __init__(self, space: gym.Space, prefix: str) -> None:
        self.space = space
        leaves = _leaves(space)
        self.arrays = [  # (name in shared memory, path, space)
            (f"{prefix}:{i}", path, leaf) for i, (path, leaf) in enumerate(leaves)
            if in_shared_memory(leaf)
        ]  # fmt: skip
        self.pickled = [path for path, leaf in leaves if not in_shared_memory(leaf)]
        # The common case, a single array at the root: its name; read and written without
        # walking the tree.
        single = not self.pickled and len(self.arrays) == 1 and self.arrays[0][1] == ()
        self.flat: str | None = self.arrays[0][0] if single else None

    def specs(self, n_envs: int) -> list[tuple[str, tuple[int, ...], np.dtype]]:
        return [
            (name, (n_envs, *leaf.shape), np.dtype(leaf.dtype)) for name, _, leaf in self.arrays
        ]

    # -- one env's value (the worker writes observations, reads actions; the main process
    #    writes actions) -----------------------------------------------------------------

    def write(self, views: dict[str, np.ndarray], env: int, value: Any) -> list[Any] | None:
        """Put one env's value into the arrays; returns its pickled leaves (None if none)."""
        if self.flat:
            views[self.flat][env] = value
            return None
        for name, path, _ in self.arrays:
            views[name][env] = _get(value, path)
        return [_get(value, path) for path in self.pickled] if self.pickled else None

    def read(self, views: dict[str, np.ndarray], env: int, pickled: list[Any] | None) -> Any:
        """One env's value, from the arrays (copied: the env may keep it) and its pickled
        leaves."""
        if self.flat:
            value = views[self.flat][env]
            return value.copy() if isinstance(value, np.ndarray) else value
        leaves = {path: views[name][env].copy() for name, path, _ in self.arrays}
        leaves.update(zip(self.pickled, pickled or [], strict=True))
        return self._build(self.space, (), lambda path: _unbatched(leaves[path]))

    # -- all envs' values (the main process reads observations) ----------------------------

    def batch(self, views: dict[str, np.ndarray], pickled: list[list[Any] | None]) -> Any:
        """Every env's value, batched: arrays copied, pickled leaves stacked."""
        if self.flat:
            return views[self.flat].copy()
        arrays = {path: views[name].copy() for name, path, _ in self.arrays}
        for i, path in enumerate(self.pickled):
            arrays[path] = stack([env_leaves[i] for env_leaves in pickled])
        return self._build(self.space, (), arrays.__getitem__)

    def per_env(self, actions: Any, n_envs: int) -> list[Any]:
        """Batched actions as one value per env: a sequence of per-env values (what SB3's
        vec envs index), or a dict / tuple batched as `batch` returns it."""
        if isinstance(actions, dict) or (
            isinstance(actions, tuple) and isinstance(self.space, spaces.Tuple)
            and len(actions) != n_envs
        ):  # fmt: skip
            return [
                self._build(self.space, (), lambda p, i=i: _get(actions, p)[i])
                for i in range(n_envs)
            ]
        if len(actions) != n_envs:
            raise ValueError(f"{len(actions)} actions for {n_envs} envs")
        return list(actions)

    def _build(self, space: gym.Space, path: LeafPath, leaf: Any) -> Any:
        if isinstance(space, spaces.Dict):
            return {key: self._build(sub, (*path, key), leaf) for key, sub in space.spaces.items()}
        if isinstance(space, spaces.Tuple):
            return tuple(self._build(sub, (*path, i), leaf) for i, sub in enumerate(space.spaces))
        return leaf(path)


def _unbatched(value: Any) -> Any:
    """A 0-d array (a Discrete leaf) as the plain number an env is given."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value
