"""Our pick-and-place env, logging how each episode starts: for tests that check which
episodes training, validation and test play. `rl-train --env start_log_env:StartLogPickAndPlace-v0`
with tests/ on PYTHONPATH and START_LOG=<dir>; each process appends to <dir>/<pid>.jsonl one
line per reset: the env object, the seed the reset got, the goal, the cube's position, and
whether the cube started held."""

from __future__ import annotations

import json
import os

import gymnasium as gym

import envs  # noqa: F401  (registers rltrain/PandaPickAndPlace-v0)


class StartLog(gym.Wrapper):
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        task = self.env.unwrapped.task
        line = {
            "env": id(self),
            "seed": seed,
            "goal": [round(float(x), 9) for x in task.goal],
            "cube": [round(float(x), 9) for x in task.cube_position()],
            "held": bool(task.started_held),
        }
        with open(os.path.join(os.environ["START_LOG"], f"{os.getpid()}.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")
        return observation, info


def make(**kwargs) -> gym.Env:
    return StartLog(gym.make("rltrain/PandaPickAndPlace-v0", **kwargs))


gym.register("StartLogPickAndPlace-v0", entry_point="start_log_env:make")
