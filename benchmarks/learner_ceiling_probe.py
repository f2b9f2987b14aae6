"""Timers inside the trainer process for learner_ceiling.py: where PPO's learner spends its time
per env step, split by the methods SB3 calls; and stock SB3's run to compare with.

learner_ceiling.py runs `learner_ceiling_probe.run(LEARNER, SHAPE, N_ENVS, STEPS, DIR)` in a
fresh process, which prints one JSON line: the seconds of each part (wall and the
process's CPU, all its threads) over the iterations after the first (a rollout and its
update), and the env steps they made.
"""

from __future__ import annotations

import functools
import json
import tempfile
import time
from collections import defaultdict
from typing import Any

# Each part is the time inside these methods; a part's nested parts are taken out of it
# ("env" out of "wrappers", which times the outermost VecEnv's step_wait).
PARTS = ("acting", "env", "wrappers", "buffer", "update", "callbacks")


class Clock:
    """Wall and process CPU seconds (all threads: the update's too) per part, per iteration."""

    def __init__(self) -> None:
        self.learner = ""
        self.iterations: list[dict[str, list[float]]] = []
        self.steps: list[int] = []
        self._open: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def timed(self, part: str, method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                totals = self._open[part]
                totals[0] += time.perf_counter() - wall
                totals[1] += time.process_time() - cpu

        return wrapper

    def close_iteration(self, steps: int) -> None:
        self.iterations.append({part: list(v) for part, v in self._open.items()})
        self.steps.append(steps)
        self._open.clear()

    def report(self) -> dict[str, Any]:
        """The iterations after the first (start-up, first allocations)."""
        kept = self.iterations[1:] or self.iterations
        steps = sum(self.steps[1:] or self.steps)
        totals = {part: [0.0, 0.0] for part in (*PARTS, "rollout")}
        for iteration in kept:
            for part, (wall, cpu) in iteration.items():
                totals[part][0] += wall
                totals[part][1] += cpu
        totals["wrappers"] = [w - e for w, e in zip(totals["wrappers"], totals["env"], strict=True)]
        inside = ("acting", "env", "wrappers", "buffer", "callbacks")
        totals["rollout_other"] = [
            totals["rollout"][i] - sum(totals[p][i] for p in inside) for i in (0, 1)
        ]
        return {"steps": steps, "iterations": len(kept), "seconds": totals}


def install(clock: Clock) -> None:
    """Timers around what PPO's learn loop calls: the policy's forward pass (SB3's, or the
    fast learner's), the raw env's and the outermost wrapper's step, the rollout buffer
    (classes, so every instance), and the algorithm's rollout, update and callbacks (on the
    instance at the start of learn(), so that a subclass's own train() is what is timed).
    The model's JSON line is printed when learn() returns: the CLI leaves by os._exit once
    the run is saved."""
    from stable_baselines3.common.buffers import RolloutBuffer
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.vec_env import VecNormalize

    from envs.simple_vec import SimpleReachVecEnv
    from rl_train.training import fast_learner

    ActorCriticPolicy.forward = clock.timed("acting", ActorCriticPolicy.forward)
    fast_learner.act = clock.timed("acting", fast_learner.act)  # --learner fast's forward
    SimpleReachVecEnv.step_wait = clock.timed("env", SimpleReachVecEnv.step_wait)
    VecNormalize.step_wait = clock.timed("wrappers", VecNormalize.step_wait)
    RolloutBuffer.add = clock.timed("buffer", RolloutBuffer.add)
    RolloutBuffer.compute_returns_and_advantage = clock.timed(
        "buffer", RolloutBuffer.compute_returns_and_advantage
    )
    setup_learn = OnPolicyAlgorithm._setup_learn

    def timed_setup(self, *args, **kwargs):
        total, callback = setup_learn(self, *args, **kwargs)
        self.collect_rollouts = clock.timed("rollout", self.collect_rollouts)
        train = clock.timed("update", self.train)

        def train_then_close():
            train()
            # An iteration ends with its update; its steps are the rollout's.
            clock.close_iteration(self.n_steps * self.env.num_envs)

        self.train = train_then_close
        for name in ("on_step", "on_rollout_start", "on_rollout_end"):
            setattr(callback, name, clock.timed("callbacks", getattr(callback, name)))
        return total, callback

    OnPolicyAlgorithm._setup_learn = timed_setup
    learn = OnPolicyAlgorithm.learn

    def learn_then_report(self, *args, **kwargs):
        result = learn(self, *args, **kwargs)
        print(json.dumps({"learner": clock.learner, **clock.report()}), flush=True)
        del self.collect_rollouts, self.train  # not for model.zip: the class's again
        return result

    OnPolicyAlgorithm.learn = learn_then_report


# The hyperparameters a run takes, by the task whose learner it stands for (the env stays
# the kinematic reach's): reach's 64x64 network, or the object tasks' 256x256 and longer rollouts.
SHAPES = {"reach": "rltrain/PandaReachSimple-v0", "push": "rltrain/PandaPush-v0"}


def shape_hyperparams(shape: str) -> dict:
    from rl_train.config import hyperparams

    table = hyperparams.shipped(SHAPES[shape])
    table.pop("n_timesteps", None)
    return table


def stock(n_envs: int, total: int, shape: str) -> None:
    """Stock SB3 as a user writes it: PPO over VecNormalize(VecMonitor(env)), the shipped
    hyperparameters of the shape's task, torch's default threads, no callbacks."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    from envs.simple_vec import SimpleReachVecEnv
    from rl_train.config import hyperparams
    from rl_train.training.model import as_schedule

    table = shape_hyperparams(shape)
    normalize = hyperparams.normalize_kwargs(table) or {}
    venv = VecNormalize(VecMonitor(SimpleReachVecEnv(n_envs, seed=0)), **normalize)
    policy = table.get("policy", "MlpPolicy")
    kwargs = hyperparams.ppo_kwargs(table)
    for key in hyperparams.SCHEDULED_KEYS:  # rl-zoo's lin_<value>, as the trainer reads it
        if key in kwargs:
            kwargs[key] = as_schedule(kwargs[key])
    model = PPO(policy, venv, seed=0, device="cpu", **kwargs)
    model.learn(total)


def rl_train(n_envs: int, total: int, shape: str, output_dir: str, *flags: str) -> None:
    """rl-train's trainer as its CLI runs it, the kinematic reach's batched env in-process,
    the shape's hyperparameters given with --hyperparams, and `flags`."""
    from rl_train.cli.main import main

    given = []
    for key, value in shape_hyperparams(shape).items():
        if key in ("normalize", "policy"):
            continue  # both shapes normalize alike and use MlpPolicy
        pairs = value.items() if isinstance(value, dict) else [(None, value)]
        given += [f"{key}{'.' + sub if sub else ''}={json.dumps(v)}" for sub, v in pairs]
    main([
        "--use-simple-env", "--vec-env", "native", "--n-envs", str(n_envs),
        "--total-timesteps", str(total), "--wandb-mode", "disabled", "--eval-freq", "0",
        "--checkpoint-freq", "0", "--output-dir", output_dir, "--run-name", "learner",
        *flags, "--hyperparams", *given,
    ])  # fmt: skip


def run(learner: str, shape: str, n_envs: int, total: int, output_dir: str = "") -> None:
    """One measured run in this process (learner_ceiling.py starts a fresh one per run)."""
    clock = Clock()
    clock.learner = learner
    install(clock)
    output_dir = output_dir or tempfile.mkdtemp(prefix="rl-train-learner-")
    if learner == "stock":
        stock(n_envs, total, shape)
    elif learner == "rl-train-sb3":  # the trainer before #39
        rl_train(n_envs, total, shape, output_dir, "--learner", "sb3")
    elif learner == "rl-train-all-cores":
        rl_train(n_envs, total, shape, output_dir, "--update-threads", "0")
    else:
        rl_train(n_envs, total, shape, output_dir)
