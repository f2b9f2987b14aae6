"""Scripted end-effector policies for the PyBullet Panda envs, shared by the env tests."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import numpy as np


def p_control(goal: np.ndarray, position: np.ndarray) -> np.ndarray:
    """A scripted end-effector action: full speed until 5 cm away, then proportional."""
    return np.clip((goal - position) / 0.05, -1.0, 1.0).astype(np.float32)


def pick_and_place_steps(env: gym.Env, seed: int, steps: int = 50) -> Iterator[tuple]:
    """Above the cube open, down, close, carry to the goal: yields (phase, observation,
    reward, info) after each step, phase being the one the step's action was for."""
    observation, _ = env.reset(seed=seed)
    goal = env.unwrapped.goal
    phase, closed_at = "above", 0
    for step in range(steps):
        hand, cube = observation[:3], observation[7:10]
        if phase == "above" and np.linalg.norm(hand - cube - [0, 0, 0.05]) < 0.01:
            phase = "down"
        if phase == "down" and np.linalg.norm(hand - cube) < 0.008:
            phase, closed_at = "close", step
        if phase == "close" and step - closed_at >= 3:
            phase = "carry"
        target = {"above": cube + [0, 0, 0.05], "down": cube, "close": cube, "carry": goal}[phase]
        grip = 1.0 if phase in ("above", "down") else -1.0
        action = np.append(p_control(target, hand), grip).astype(np.float32)
        observation, reward, _, _, info = env.step(action)
        yield phase, observation, reward, info
