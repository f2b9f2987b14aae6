"""evaluate(model, venv, episodes): the policy's episodes on evaluation envs, and their
statistics. Training's periodic and final evaluation and `rl-train eval` all call it.

SB3's evaluate_policy runs the episodes (it spreads them evenly over the envs, so short
episodes do not bias the result, and reads raw returns from VecMonitor); a callback
collects each episode's `is_success`. Films come from a FrameRecorder around env 0.
Episode i starts from reset(seed=first_seed + i), whichever env plays it
(vec/episode_seeds.py): a set of episodes is named by its first seed and its size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from rl_train.evaluation.result import EvalResult
from rl_train.vec.episode_seeds import SEED_EPISODES

FILM = "start_recording"
TAKE = "take_recording"


def episode_seeds(first_seed: int, episodes: int, n_envs: int) -> list[list[int]]:
    """Each env's seeds, in the order it plays them: SB3's evaluate_policy gives env i
    (episodes + i) // n_envs episodes, and episode numbers run env by env."""
    counts = [(episodes + i) // n_envs for i in range(n_envs)]
    starts = [first_seed + sum(counts[:i]) for i in range(n_envs)]
    return [list(range(start, start + count)) for start, count in zip(starts, counts, strict=True)]


def seed_episodes(venv: VecEnv, first_seed: int, episodes: int) -> None:
    """Hand each env the seeds of the episodes it will play, before the evaluation's reset."""
    raw = venv.unwrapped
    raw._reset_seeds()  # PPO.load's set_random_seed queued the model's seeds for a reset
    for i, seeds in enumerate(episode_seeds(first_seed, episodes, venv.num_envs)):
        if hasattr(raw, "seed_next_episodes_of"):  # the batched kinematic reach
            raw.seed_next_episodes_of(i, seeds)
        else:
            venv.env_method(SEED_EPISODES, seeds, indices=[i])


def evaluate(
    model: Any,
    venv: VecEnv,
    episodes: int,
    first_seed: int,
    deterministic: bool = True,
    film: int = 0,
    poses: bool = False,
    on_film: Callable[[list[dict[str, Any]]], None] | None = None,
) -> EvalResult:
    """`episodes` episodes from a reset of venv, seeded first_seed, first_seed + 1, ...,
    VecNormalize statistics frozen (and raw rewards); `film` > 0 films that many of env
    0's episodes (env 0 must be a FrameRecorder), as poses where the env has them and
    `poses` asks for them. `on_film` gets the films as soon as env 0 has played them,
    while the other episodes go on."""
    if isinstance(venv, VecNormalize):
        venv.training = False
    successes: list[bool] = []
    films: list[dict[str, Any]] = []
    filmed = [0, False]  # env 0's episodes done, films taken

    def take() -> None:
        filmed[1] = True
        films.extend(venv.env_method(TAKE, indices=[0])[0])
        if on_film is not None and films:
            on_film(films)

    def collect(local: dict[str, Any], _globals: dict[str, Any]) -> None:
        if local["done"] and "is_success" in local["info"]:
            successes.append(bool(local["info"]["is_success"]))
        if film and local["done"] and local["i"] == 0:
            filmed[0] += 1
            if filmed[0] == film:
                take()  # between two steps of the vec env: its workers are idle

    if film:
        venv.env_method(FILM, film, poses, indices=[0])
    seed_episodes(venv, first_seed, episodes)
    returns, lengths = evaluate_policy(
        model,
        venv,
        n_eval_episodes=episodes,
        deterministic=deterministic,
        callback=collect,
        return_episode_rewards=True,
        warn=False,
    )
    if film and not filmed[1]:  # env 0 played fewer episodes than asked to film
        take()
    return EvalResult(
        [float(r) for r in returns],
        [int(n) for n in lengths],
        successes,
        films,
        deterministic,
    )
