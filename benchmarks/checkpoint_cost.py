"""What exact resume adds to a checkpoint: its size and save time, before and after.

Builds the trainer's own envs (16 PyBullet envs on the shm backend by default, the env's
shipped hyperparameters) and PPO model, trains a few rollouts so that every env is
mid-episode, then saves checkpoints the two ways, interleaved, `--reps` times each:

  before  model.zip, vecnormalize.pkl, rng.pkl, meta.json (what a checkpoint held until
          exact resume: the files written, checksummed, fsynced and renamed, as now)
  after   the same plus state.pkl: each env's state (its generator at the episode start
          and the episode's actions, from its worker) and the wrappers' running state

and reports the median save time (95% interval of the median) and the bytes of each. It
also times what a resume adds: putting 16 fresh envs back where the checkpoint says
(each replays its current episode).

    .venv/bin/python benchmarks/checkpoint_cost.py                   # reach, 16 envs
    .venv/bin/python benchmarks/checkpoint_cost.py --env push --reps 30

Writes benchmarks/results/checkpoint_cost.<env>.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from harness import RESULTS, median_ci

from rl_train.machine import cpu_model, usable_cores


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=["reach", "push", "pick_and_place"], default="reach")
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=3, help="trained before measuring")
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from callbacks.checkpoint import save_checkpoint, write_stock_files
    from rl_train.config.resolve import resolve
    from rl_train.config.train_config import TrainConfig
    from rl_train.store import checkpoint
    from rl_train.training import run_state
    from rl_train.training.model import build_model, load_model
    from rl_train.vec.make import make_vec_env

    torch.set_num_threads(1)
    config = TrainConfig(env=args.env, n_envs=args.n_envs, vec_env="shm", wandb_mode="disabled")
    resolve(config)
    venv = make_vec_env(config)
    model = build_model(config, venv)
    rollout = model.n_steps * config.n_envs
    # The shipped n_steps (64, 256) are no multiple of the 50-step episodes: the envs stop
    # mid-episode, with actions to replay.
    model.learn(args.rollouts * rollout)
    meta = {"run_id": "bench", "env_id": config.env_id, "algo": "PPO"}
    times: dict[str, list[float]] = {"before": [], "after": []}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="rl-train-ckpt-cost-") as tmp:
        root = Path(tmp) / "checkpoints"
        for rep in range(args.reps):
            for kind in ("before", "after") if rep % 2 == 0 else ("after", "before"):
                step = 2 * rep + (kind == "after")
                started = time.perf_counter()
                if kind == "after":
                    path = save_checkpoint(model, root, step, meta, keep=2)
                else:
                    tmp_dir = write_stock_files(model, root, step)
                    path = checkpoint.commit_checkpoint(tmp_dir, root, step, meta)
                    checkpoint.prune(root, 2, protect={path})
                times[kind].append(time.perf_counter() - started)
                sizes[kind] = directory_bytes(path)
        newest = checkpoint.validate(checkpoint.list_checkpoints(root)[-1])
        state = run_state.read(newest.state_path)
        replay_s = []
        for _ in range(3):
            fresh = make_vec_env(config, newest.vecnormalize_path)
            restored = load_model(newest, fresh, continue_envs=True)
            started = time.perf_counter()
            why_not = run_state.restore(restored, state, config.env_id)
            replay_s.append(time.perf_counter() - started)
            fresh.close()
            assert why_not is None, why_not
    venv.close()
    actions = sum(len(s["actions"]) for s in state["envs"]["states"])
    assert isinstance(model.get_env(), VecNormalize)

    command = " ".join(["python", "benchmarks/checkpoint_cost.py", *sys.argv[1:]])
    machine = f"{cpu_model()}, {usable_cores()} usable cores"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = {}
    for kind in ("before", "after"):
        low, high = median_ci(times[kind]) or (float("nan"), float("nan"))
        rows[kind] = {
            "median_s": statistics.median(times[kind]),
            "ci95_s": [low, high],
            "bytes": sizes[kind],
            "times_s": times[kind],
        }
    ratio = rows["after"]["median_s"] / rows["before"]["median_s"]
    lines = [
        f"# Checkpoint cost of exact resume: {config.env_id}, {config.n_envs} envs (shm)",
        "",
        f"`{command}` on {machine}, {date}; {args.reps} saves of each kind, interleaved, "
        f"after {args.rollouts} rollouts of {rollout:,} steps.",
        "",
        "| checkpoint | save time, median (95% interval) | size |",
        "|---|---|---|",
    ]
    for kind, label in (
        ("before", "before: model, VecNormalize, RNGs"),
        ("after", "now: + envs' state"),
    ):
        row = rows[kind]
        lines.append(
            f"| {label} | {row['median_s'] * 1e3:.1f} ms ({row['ci95_s'][0] * 1e3:.1f}-"
            f"{row['ci95_s'][1] * 1e3:.1f}) | {row['bytes'] / 1e3:,.1f} kB |"
        )
    lines += [
        "",
        f"Save time after / before: {ratio:.3f} (+{(ratio - 1) * 100:.1f}%); state.pkl adds "
        f"{(sizes['after'] - sizes['before']) / 1e3:,.1f} kB ({actions} actions of the "
        f"envs' current episodes). A resume puts the {config.n_envs} envs back in "
        f"{statistics.median(replay_s) * 1e3:.0f} ms (median of 3).",
    ]
    text = "\n".join(lines) + "\n"
    prefix = RESULTS / f"checkpoint_cost.{args.env}"
    prefix.with_suffix(".md").write_text(text)
    document = {
        "meta": {"command": command, "machine": machine, "date": date, "env": config.env_id},
        "rows": rows,
        "ratio": ratio,
        "replay_s": replay_s,
    }
    prefix.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
