"""What a pick-and-place policy does, by goal height: success, how often it grasps, how high
it lifts the cube, how often it brings the cube to the goal and still holds it at the end, and
its mean vertical action while it holds the cube.

`rl-train eval` says how often a policy succeeds; this says why it fails. It found the local
optimum of the first staged-reward runs (grasp, press down, slide the cube under the goal:
no goal over 7 cm reached, the vertical mean at -3 while holding; learning-runs.md), and
that a seed at 90% loses the cube after bringing it to the goal rather than failing to get there.

    .venv/bin/python benchmarks/pick_and_place_breakdown.py RUN [--checkpoint latest]
        [--episodes 100] [--seed N] [--output-dir runs]

Deterministic episodes, in this process (one env, so that the cube and goal can be read), on
the run's test episodes by default: the success is `rl-train eval --n-envs 1`'s (eval's default
eight envs may differ by an episode or so: docs/evaluation.md "Seeds").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

import envs  # noqa: F401  (registers the ids)
from envs.tasks.objects import HALF_SIZE
from rl_train.config.train_config import TEST_SEEDS
from rl_train.evaluation.policy import find_target, load_policy

BANDS = [(-1.0, 0.001, "on the table"), (0.001, 0.07, "0-7 cm up"), (0.07, 0.14, "7-14 cm up"),
         (0.14, 1.0, "14-20 cm up")]  # fmt: skip


def episode(model, venv, seed: int) -> dict:
    venv.seed(seed)
    observation = venv.reset()
    env = venv.venv.envs[0].unwrapped
    goal = env.goal.copy()
    grasped, reached, highest, vertical = False, False, 0.0, []
    while True:  # to the TimeLimit's end of the episode
        with torch.no_grad():
            obs = torch.as_tensor(observation).float()
            mean = model.policy.get_distribution(obs).distribution.mean.numpy()[0]
        action, _ = model.predict(observation, deterministic=True)
        observation, _, done, info = venv.step(action)
        reached = reached or bool(info[0]["is_success"])  # the cube within reach of the goal
        if done[0]:  # the last step's info, before the auto-reset
            success, held_at_end = bool(info[0]["is_success"]), bool(info[0].get("grasped"))
            break
        highest = max(highest, env.task.cube_position()[2] - HALF_SIZE)
        if info[0].get("grasped"):
            grasped = True
            vertical.append(mean[2])
    return {
        "goal_lift": goal[2] - HALF_SIZE,
        "success": success,
        "grasped": grasped,
        "lift": highest,
        "reached": reached,
        "held_at_end": held_at_end,
        "vertical_mean": float(np.mean(vertical)) if vertical else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--checkpoint", default="latest")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--seed", type=int, help="episode i starts from seed + i (default: the run's test episodes)"
    )
    parser.add_argument("--output-dir", type=Path, default=Path("runs"))
    args = parser.parse_args()
    target = find_target(args.run, args.output_dir, args.checkpoint)
    venv = DummyVecEnv([lambda: gym.make(target.config.env_id)])
    model, venv = load_policy(target, venv)
    first_seed = args.seed if args.seed is not None else target.config.seed + TEST_SEEDS
    rows = [episode(model, venv, first_seed + i) for i in range(args.episodes)]
    print(
        f"{target.checkpoint.path}: {args.episodes} deterministic episodes from seed {first_seed:,}"
    )
    print(
        "| goals | episodes | success | grasped | mean max lift | reached the goal "
        "| held at the end | vertical mean while held |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for low, high, name in [*BANDS, (-1.0, 1.0, "all")]:
        band = [r for r in rows if low < r["goal_lift"] <= high]
        if not band:
            continue
        print(
            f"| {name} | {len(band)} | {np.mean([r['success'] for r in band]):.1%} "
            f"| {np.mean([r['grasped'] for r in band]):.1%} "
            f"| {100 * np.mean([r['lift'] for r in band]):.1f} cm "
            f"| {np.mean([r['reached'] for r in band]):.1%} "
            f"| {np.mean([r['held_at_end'] for r in band]):.1%} "
            f"| {np.nanmean([r['vertical_mean'] for r in band]):+.2f} |"
        )
    venv.close()


if __name__ == "__main__":
    main()
