"""Picklable env constructor that worker processes run.

Lives in its own torch-free module: a worker unpickles it, which imports only this
module, gymnasium and our envs package (never torch, SB3 or wandb).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvFactory:
    env_id: str
    seed: int
    rank: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    record_frames: bool = False  # wrapped in a FrameRecorder (evaluation videos)
    shown_render_mode: str | None = None  # the FrameRecorder's, as the envs beside it
    replayable: bool = False  # wrapped in a ReplayRecorder (training envs: exact resume)
    seeded_episodes: bool = False  # wrapped in SeededEpisodes (evaluation envs)

    def __call__(self):
        import multiprocessing
        import signal

        import gymnasium as gym

        if multiprocessing.parent_process() is not None:
            # In a worker: Ctrl-C reaches the whole process group, but only the main
            # process may decide to stop (it checkpoints, then closes the workers).
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        import envs  # (registers our ids with gymnasium)

        env = gym.make(self.env_id, **self.env_kwargs)
        from rl_train.vec.flat_actions import FlatActions, needs_flat_actions

        if needs_flat_actions(env.action_space):  # PPO acts in a Box (flat_actions.py)
            env = FlatActions(env)
        if self.replayable:
            from rl_train.vec.replay import ReplayRecorder

            env = ReplayRecorder(env, exact=envs.is_ours(self.env_id))
        if self.record_frames:
            from rl_train.vec.recorder import FrameRecorder

            env = FrameRecorder(env, self.shown_render_mode)
        if self.seeded_episodes:
            from rl_train.vec.episode_seeds import SeededEpisodes

            env = SeededEpisodes(env)
        env.reset(seed=self.seed + self.rank)
        env.action_space.seed(self.seed + self.rank)
        return env
