"""SeededEpisodes: an evaluation env whose next episodes start from given seeds.

An evaluation plays episode i from `reset(seed=first + i)`, whichever env plays it: the
episodes of a validation or test set are the same however many envs play them
(docs/evaluation.md, "Seeds"). SB3's VecEnv.seed() seeds only the next reset of every env;
the episodes after an auto-reset would continue each env's random stream, and so depend on
the number of envs. The evaluation hands each env its seeds through VecEnv.env_method
(`SEED_EPISODES`) before it plays; past its seeds an env draws from its stream as usual.

Lives in a torch-free module: env workers import it.
"""

from __future__ import annotations

import gymnasium as gym

SEED_EPISODES = "seed_next_episodes"


class SeededEpisodes(gym.Wrapper):
    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._seeds: list[int] = []

    def seed_next_episodes(self, seeds: list[int]) -> None:
        self._seeds = list(seeds)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._seeds:
            seed = self._seeds.pop(0)
        return self.env.reset(seed=seed, options=options)
