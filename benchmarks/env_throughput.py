"""Raw single-process env throughput: steps/s and reset cost of every env id, against panda-gym.

    .venv/bin/python benchmarks/env_throughput.py [--quick] [--pandagym-python PATH]

Every env lives in its own worker process (one PyBullet client, one core), idle until the
main process asks it to measure; the main process asks one worker at a time, round after
round, so that ours and panda-gym's equivalent ids are measured interleaved, under the
same load. Reported: medians over rounds, and for each pair the median of the per-round
ratios (robust to a machine whose load drifts, as a shared one does).

panda-gym is measured when it can be imported: by this interpreter, or by the one given
with --pandagym-python (default /tmp/pandagym-venv/bin/python, a separate venv, so that
it never enters our dependencies). Writes benchmarks/results/env_throughput.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from benchlib import machine
from benchlib.command import REPO, RESULTS, child_env
from benchlib.results import write_report
from env_throughput_report import markdown

DEFAULT_PANDAGYM_PYTHON = "/tmp/pandagym-venv/bin/python"
VEC_ID = "SimpleReachVecEnv(1024)"
VEC_ENVS = 1024
# (ours, panda-gym's equivalent, target ratio or None)
PAIRS = [
    ("rltrain/PandaReach-v0", "PandaReach-v3", 2.5),
    ("rltrain/PandaPush-v0", "PandaPush-v3", 2.0),
    ("rltrain/PandaPickAndPlace-v0", "PandaPickAndPlace-v3", None),
]
# Absolute targets (steps/s) from issue 3
ABSOLUTE_TARGETS = {"rltrain/PandaReachSimple-v0": 30_000, VEC_ID: 1_000_000}


# -- worker side ---------------------------------------------------------------------------
def _make(env_id: str):
    import gymnasium as gym

    if env_id == VEC_ID:
        from envs.simple_vec import SimpleReachVecEnv

        return SimpleReachVecEnv(VEC_ENVS, seed=0)
    if env_id.startswith("rltrain/"):
        import envs  # noqa: F401  (registers our ids)
    else:
        import panda_gym  # noqa: F401  (registers panda-gym's ids)
    return gym.make(env_id)


def _measure_steps(env, env_id: str, seconds: float) -> float:
    """Steps/s of random actions for about `seconds`, resets at episode ends included."""
    import numpy as np

    if env_id == VEC_ID:
        actions = np.random.default_rng(0).uniform(-1, 1, (64, VEC_ENVS, 3)).astype(np.float32)
        env.reset()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for action in actions:
                env.step(action)
            steps += len(actions) * VEC_ENVS
        return steps / (time.perf_counter() - start)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(200)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        steps += len(actions)
    return steps / (time.perf_counter() - start)


def _measure_reset(env, env_id: str, count: int) -> float:
    """Milliseconds per reset (per batch reset for the vectorized env)."""
    start = time.perf_counter()
    for i in range(count):
        if env_id == VEC_ID:
            env.reset()
        else:
            env.reset(seed=i)
    return (time.perf_counter() - start) / count * 1e3


def worker(env_id: str) -> None:
    """Build the env, then answer `measure <seconds> <resets>` lines with JSON lines."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    env = _make(env_id)
    _measure_steps(env, env_id, 0.2)  # warm-up: caches, lazy imports
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] != "measure":
            break
        seconds, resets = float(command[1]), int(command[2])
        result = {
            "steps_per_s": _measure_steps(env, env_id, seconds),
            "reset_ms": _measure_reset(env, env_id, resets),
        }
        print(json.dumps(result), flush=True)


# -- main side -----------------------------------------------------------------------------
@dataclass
class Worker:
    env_id: str
    owner: str  # "ours" or "panda-gym"
    process: subprocess.Popen
    steps_per_s: list[float] = field(default_factory=list)
    reset_ms: list[float] = field(default_factory=list)

    def measure(self, seconds: float, resets: int) -> None:
        self.process.stdin.write(f"measure {seconds} {resets}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        while line and not line.startswith("{"):  # C-level prints (pybullet) share the pipe
            line = self.process.stdout.readline()
        result = json.loads(line)
        self.steps_per_s.append(result["steps_per_s"])
        self.reset_ms.append(result["reset_ms"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


def start_worker(python: str, env_id: str, owner: str) -> Worker | None:
    env = child_env(one_thread=True)
    process = subprocess.Popen(
        [python, __file__, "--worker", env_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )
    ready = process.stdout.readline()  # pybullet's banner goes to the C stdout: skip it
    while ready and not ready.startswith("{"):
        ready = process.stdout.readline()
    if not ready:
        process.wait()
        return None
    return Worker(env_id, owner, process)


def pandagym_python(flag: str | None) -> str | None:
    """An interpreter that can import panda_gym, or None."""
    candidates = [flag] if flag else [sys.executable, DEFAULT_PANDAGYM_PYTHON]
    for python in candidates:
        if python and Path(python).exists():
            probe = subprocess.run(
                [python, "-c", "import panda_gym"], capture_output=True, text=True
            )
            if probe.returncode == 0:
                return python
    return None


def our_ids(quick: bool) -> list[str]:
    sys.path.insert(0, str(REPO))
    import envs

    if quick:
        return [pair[0] for pair in PAIRS] + ["rltrain/KukaReach-v0", "rltrain/PandaReachSimple-v0"]
    return envs.registered_ids()


def machine_info() -> dict:
    described = machine.describe()
    return {
        "host": platform.node(),
        "cpu": described["cpu_model"],
        "cores": described["nproc"],
        "python": described["python"],
        "load_average_start": machine.load_average(),
    }


def run_rounds(workers: list[Worker], rounds: int, seconds: float, resets: int) -> None:
    pairs = {ours: theirs for ours, theirs, _ in PAIRS}
    by_id = {w.env_id: w for w in workers}
    for round_index in range(rounds):
        for w in workers:
            if w.owner == "panda-gym":
                continue  # measured right next to its pair below
            partner = by_id.get(pairs.get(w.env_id, ""))
            order = [w] if partner is None else [w, partner]
            if round_index % 2:
                order.reverse()  # alternate who goes first: load drift cancels
            for member in order:
                member.measure(seconds, resets)
        print(f"round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)


def summarize(workers: list[Worker], info: dict) -> dict:
    by_id = {w.env_id: w for w in workers}
    envs_table = {
        w.env_id: {
            "owner": w.owner,
            "steps_per_s_median": statistics.median(w.steps_per_s),
            "steps_per_s_all": [round(v, 1) for v in w.steps_per_s],
            "reset_ms_median": statistics.median(w.reset_ms),
        }
        for w in workers
    }
    comparisons = []
    for ours, theirs, target in PAIRS:
        if ours not in by_id or theirs not in by_id:
            continue
        ratios = [
            a / b for a, b in zip(by_id[ours].steps_per_s, by_id[theirs].steps_per_s, strict=True)
        ]
        ratio = statistics.median(ratios)
        comparisons.append(
            {
                "ours": ours,
                "panda_gym": theirs,
                "ratio_median": ratio,
                "ratios": [round(r, 3) for r in ratios],
                "target": target,
                "met": None if target is None else ratio >= target,
            }
        )
    absolute = [
        {
            "env": env_id,
            "steps_per_s_median": envs_table[env_id]["steps_per_s_median"],
            "target": target,
            "met": envs_table[env_id]["steps_per_s_median"] >= target,
        }
        for env_id, target in ABSOLUTE_TARGETS.items()
        if env_id in envs_table
    ]
    info["load_average_end"] = machine.load_average()
    return {"machine": info, "envs": envs_table, "comparisons": comparisons, "absolute": absolute}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer ids, rounds and seconds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per env per round")
    parser.add_argument("--pandagym-python", default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "env_throughput")
    parser.add_argument("--worker", metavar="ENV_ID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    rounds = args.rounds or (3 if args.quick else 7)
    seconds = args.seconds or (1.0 if args.quick else 2.0)
    resets = 20 if args.quick else 50
    info = machine_info() | {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": rounds,
        "seconds": seconds,
    }
    workers = []
    for env_id in [*our_ids(args.quick), VEC_ID]:
        workers.append(start_worker(sys.executable, env_id, "ours"))
    theirs_python = pandagym_python(args.pandagym_python)
    info["panda_gym_python"] = theirs_python
    if theirs_python:
        for _, theirs, _ in PAIRS:
            workers.append(start_worker(theirs_python, theirs, "panda-gym"))
    workers = [w for w in workers if w is not None]
    try:
        run_rounds(workers, rounds, seconds, resets)
    finally:
        for w in workers:
            w.close()
    summary = summarize(workers, info)
    table = markdown(summary)
    write_report(args.output.with_suffix(""), table, summary, indent=2)
    print(table)


if __name__ == "__main__":
    main()
