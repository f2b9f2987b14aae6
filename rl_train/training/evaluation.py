"""How good the policy is: its deterministic success rate, and the rollouts' success rate."""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

EVAL_EPISODES = 50
MAX_EVAL_STEPS = 10_000  # an env that never ends must not hang the evaluation


def evaluate_success(model: Any, venv: VecEnv, episodes: int = EVAL_EPISODES) -> float | None:
    """Deterministic success rate over `episodes` fresh episodes, statistics frozen."""
    if isinstance(venv, VecNormalize):
        venv.training = False
    observations = venv.reset()
    successes: list[float] = []
    for _ in range(MAX_EVAL_STEPS):
        actions, _ = model.predict(observations, deterministic=True)
        observations, _, dones, infos = venv.step(actions)
        for done, info in zip(dones, infos, strict=True):
            if done and "is_success" in info:
                successes.append(float(info["is_success"]))
        if len(successes) >= episodes:
            break
    return float(np.mean(successes)) if successes else None


def rollout_success_rate(model: Any) -> float | None:
    """The success rate of the last episodes training saw (SB3's ep_success_buffer)."""
    buffer = getattr(model, "ep_success_buffer", None)
    return float(np.mean(buffer)) if buffer else None
