"""What exact resume adds to a checkpoint: its size and save time, before and after.

Builds the trainer's own envs (16 PyBullet envs on the shm backend by default, the env's
shipped hyperparameters) and PPO model, trains a few rollouts so that every env is
mid-episode, then saves checkpoints the two ways, interleaved, `--reps` times each:

  before  model.zip, vecnormalize.pkl, rng.pkl, meta.json: a checkpoint until exact
          resume, written, checksummed, fsynced and renamed as now
  after   model.zip, vecnormalize.pkl, state.pkl, meta.json: state.pkl holds the RNGs,
          each env's state (how its episode started and the episode's actions, which the
          trainer's EpisodeLog keeps) and the wrappers' running state

and reports the median save time (95% interval of the median) and the bytes of each. It
also times what a resume adds: putting 16 fresh envs back where the checkpoint says
(each replays its current episode), and what the EpisodeLog's bookkeeping costs per vec
step, against the vec step itself.

    .venv/bin/python benchmarks/checkpoint_cost.py                   # reach, 16 envs
    .venv/bin/python benchmarks/checkpoint_cost.py --env push --reps 30

Writes benchmarks/results/checkpoint_cost.<env>.{md,json}.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from benchlib import machine
from benchlib.command import RESULTS, script_command
from benchlib.results import write_report
from benchlib.stats import median_ci, ratios, spread


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def episode_log_cost_us(n_envs: int, action_shape: tuple[int, ...], steps: int = 20_000) -> float:
    """The EpisodeLog's work per vec step (a copy of the actions, a row per env; an episode
    ends every 50 steps), on a vec env that does nothing else."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    from rl_train.vec.episode_log import EpisodeLog
    from rl_train.vec.replay import REPLAY_START

    class Idle(VecEnv):  # steps in no time: what is left is the log's own work
        def __init__(self) -> None:
            import gymnasium as gym

            box = gym.spaces.Box(-1, 1, action_shape, np.float32)
            super().__init__(n_envs, box, box)
            self.t = 0
            self.obs = np.zeros((n_envs, *action_shape), np.float32)

        def reset(self):
            self.reset_infos = [{REPLAY_START: {"seed": 0}} for _ in range(n_envs)]
            return self.obs

        def step_async(self, actions):
            pass

        def step_wait(self):
            self.t += 1
            dones = np.full(n_envs, self.t % 50 == 0)
            return self.obs, np.zeros(n_envs), dones, [{}] * n_envs

        def close(self):
            pass

        def get_attr(self, attr_name, indices=None):
            return [None] * n_envs

        def set_attr(self, attr_name, value, indices=None):
            pass

        def env_method(self, method_name, *args, indices=None, **kwargs):
            return [None] * n_envs

        def env_is_wrapped(self, wrapper_class, indices=None):
            return [False] * n_envs

    log = EpisodeLog(Idle())
    log.reset()
    actions = np.zeros((n_envs, *action_shape), np.float32)
    started = time.perf_counter()
    for _ in range(steps):
        log.step_async(actions)
        log.step_wait()
    return (time.perf_counter() - started) / steps * 1e6


def save_before(model, root: Path, step: int, meta: dict) -> Path:
    """A checkpoint as rl-train wrote it before exact resume."""
    import pickle

    from stable_baselines3.common.vec_env import VecNormalize

    from rl_train.store import checkpoint
    from rl_train.training.callbacks.checkpoint import rng_states

    tmp = checkpoint.new_tmp_dir(root, step)
    model.save(tmp / checkpoint.MODEL_FILE)
    vec_normalize = model.get_vec_normalize_env()
    if isinstance(vec_normalize, VecNormalize):
        vec_normalize.save(str(tmp / checkpoint.VECNORM_FILE))
    with open(tmp / checkpoint.RNG_FILE, "wb") as f:
        pickle.dump(rng_states(), f)
    path = checkpoint.commit_checkpoint(tmp, root, step, meta)
    for old in checkpoint.list_checkpoints(root)[:-2]:  # the prune of then: no best history
        shutil.rmtree(old, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=["reach", "push", "pick_and_place"], default="reach")
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--rollouts", type=int, default=3, help="trained before measuring")
    args = parser.parse_args(argv)

    import torch
    from stable_baselines3.common.vec_env import VecNormalize

    from rl_train.config.train_config import TrainConfig
    from rl_train.store import checkpoint
    from rl_train.training import run_state
    from rl_train.training.callbacks.checkpoint import save_checkpoint
    from rl_train.training.entry import resolve_config
    from rl_train.training.model import build_model, load_model
    from rl_train.vec.make import make_vec_env

    torch.set_num_threads(1)
    config = TrainConfig(env=args.env, n_envs=args.n_envs, vec_env="shm", wandb_mode="disabled")
    resolve_config(config)
    venv = make_vec_env(config)
    model = build_model(config, venv)
    rollout = model.n_steps * config.n_envs
    # The shipped n_steps (64, 256) are no multiple of the 50-step episodes: the envs stop
    # mid-episode, with actions to replay.
    started = time.perf_counter()
    model.learn(args.rollouts * rollout)
    step_us = (time.perf_counter() - started) / (args.rollouts * model.n_steps) * 1e6
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
                    path = save_before(model, root, step, meta)
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
    actions = sum(len(e["actions"]) for e in state["envs"]["episodes"])
    log_us = episode_log_cost_us(config.n_envs, model.action_space.shape)
    assert isinstance(model.get_env(), VecNormalize)

    command = script_command("checkpoint_cost.py")
    machine_line = machine.summary_line()
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
    # Each repetition saved both kinds back to back: the pair's ratio cancels the host's drift.
    paired = ratios(list(zip(times["after"], times["before"], strict=True)))
    ratio, _, _, _, interval = spread(paired)
    ratio_ci = interval or (float("nan"), float("nan"))
    lines = [
        f"# Checkpoint cost of exact resume: {config.env_id}, {config.n_envs} envs (shm)",
        "",
        f"`{command}` on {machine_line}, {date}; {args.reps} saves of each kind, interleaved, "
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
        f"Save time now / before, median of the {args.reps} pairs: {ratio:.3f} "
        f"({(ratio - 1) * 100:+.1f}%, 95% interval {(ratio_ci[0] - 1) * 100:+.1f}% to "
        f"{(ratio_ci[1] - 1) * 100:+.1f}%); state.pkl adds "
        f"{(sizes['after'] - sizes['before']) / 1e3:,.1f} kB ({actions} actions of the "
        f"envs' current episodes). A resume puts the {config.n_envs} envs back in "
        f"{statistics.median(replay_s) * 1e3:.0f} ms (median of 3). The EpisodeLog's "
        f"bookkeeping costs {log_us:.1f} µs per vec step of {config.n_envs} envs, "
        f"{log_us / step_us * 100:.2f}% of a training vec step here ({step_us / 1e3:.1f} ms, "
        "rollout and update).",
    ]
    text = "\n".join(lines) + "\n"
    document = {
        "meta": {"command": command, "machine": machine_line, "date": date, "env": config.env_id},
        "rows": rows,
        "ratio": ratio,
        "ratio_ci95": list(ratio_ci),
        "replay_s": replay_s,
        "episode_log_us_per_step": log_us,
        "training_us_per_vec_step": step_us,
    }
    write_report(RESULTS / f"checkpoint_cost.{args.env}", text, document)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
