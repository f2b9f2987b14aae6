"""PPO training throughput per vec-env backend, against the machine's physical limit.

For each env (PyBullet reach, kinematic "simple" reach), backend (dummy, SB3 subproc, shm)
and --n-envs, runs the real `rl-train` command in a fresh process and reads its own
timings (run.json): steady-state training steps/s (rollouts + updates, after the first
rollout), start-up (process start to the first env step) and the update share of the
wall time; a sampler adds the peak memory (PSS, and RSS for reference) of the whole
process tree. In the same run it measures the limit: usable cores x the env's
single-core steps/s (one process stepping envs in a loop, nothing else), and reports
each result as a share of it.

    .venv/bin/python benchmarks/throughput.py            # full: n_envs 1..32, ~15 min
    .venv/bin/python benchmarks/throughput.py --quick    # n_envs 1, 4, 16, short runs

Writes benchmarks/results/throughput.{md,json,png}. Other load on the machine skews the
absolute numbers; the ratios within one run are what to compare (the load average is
recorded at the start and end).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine
from benchlib.command import (
    RESULTS,
    child_env,
    reach_run_command,
    script_command,
    shipped_n_steps,
    update_share_of,
)
from benchlib.processes import TreeMemory
from throughput_report import BACKENDS, BEFORE_39, write

from rl_train.machine import usable_cores

# Light imports only: this script's processes must not bring torch along.
ENVS = {"reach": "rltrain/PandaReach-v0", "simple": "rltrain/PandaReachSimple-v0"}
PROGRESS = re.compile(r"\s*\d+% ([\d,]+)/[\d,]+ steps")


# -- the limit: one core stepping envs, nothing else ---------------------------------------


def env_rate_in_this_process(env_id: str, seconds: float, n_envs: int = 8) -> float:
    """Env steps/s of one process stepping `n_envs` envs round-robin (auto-reset)."""
    import numpy as np

    from rl_train.vec.env_factory import EnvFactory

    envs = [EnvFactory(env_id, 0, rank)() for rank in range(n_envs)]
    actions = np.random.default_rng(0).uniform(-1, 1, (4096, *envs[0].action_space.shape))
    actions = actions.astype(envs[0].action_space.dtype)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.2:  # warm-up
        for env in envs:
            env.step(actions[steps % 4096])
            steps += 1
    steps, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for env in envs:
            _, _, terminated, truncated, _ = env.step(actions[steps % 4096])
            steps += 1
            if terminated or truncated:
                env.reset()
    return steps / elapsed


def single_core_rate(env_id: str, seconds: float) -> float:
    command = [sys.executable, __file__, "--env-rate", env_id, "--seconds", str(seconds)]
    done = subprocess.run(
        command, env=child_env(one_thread=True), capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


# -- one PPO run through the real command line ---------------------------------------------


def ppo_run(env: str, backend: str, n_envs: int, total: int, workdir: Path) -> dict:
    name = f"{env}-{backend}-{n_envs}"
    vec_env = "shm" if backend == BEFORE_39 else backend
    flags = ["--vec-env", vec_env, "--n-envs", str(n_envs), "--total-timesteps", str(total)]
    if backend == BEFORE_39:
        flags += ["--learner", "sb3", "--update-threads", "1"]
    command = reach_run_command(env, workdir, name, flags)
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as stderr_file:
        process = subprocess.Popen(
            command, env=child_env(), stdout=subprocess.PIPE, stderr=stderr_file, text=True
        )
        memory = TreeMemory(process.pid)
        # Progress lines ("40% 6,144/16,384 steps ...", every 10% when not on a terminal)
        # mark the training window: CPU time of all processes between the first and last.
        marks: list[tuple[int, float]] = []
        assert process.stdout is not None
        for line in process.stdout:
            match = PROGRESS.match(line)
            if match:
                marks.append((int(match.group(1).replace(",", "")), memory.cpu_seconds()))
        process.wait(timeout=1800)
        memory.stop()
        stderr_file.seek(0)
        stderr = stderr_file.read()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        return {"env": env, "backend": backend, "n_envs": n_envs, "error": stderr[-500:]}
    timings = json.loads((workdir / name / "run.json").read_text())["timings"]
    cpu_ms_per_step = None
    if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
        cpu_ms_per_step = 1000 * (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    return {
        "env": env,
        "backend": backend,
        "n_envs": n_envs,
        "total_timesteps": total,
        "steps_per_s": timings["steady_steps_per_s"],
        "startup_s": timings["startup_s"],
        "update_share": update_share_of(timings),
        "cpu_ms_per_step": cpu_ms_per_step,
        # the main process alone: SB3's PPO (rollout loop, update) and its logging threads
        "learner_cpu_ms_per_step": (timings.get("steady_main_cpu_ms_per_1k_steps") or 0) / 1000,
        "peak_pss_mb": memory.peak_pss / 2**20,
        "peak_rss_mb": memory.peak_rss / 2**20,
        "processes": memory.peak_processes,
        "wall_s": wall,
    }


def report_run(row: dict) -> None:
    if "error" in row:
        print(f"  {row['backend']:8s} {row['n_envs']:3d} envs: FAILED {row['error']}")
        return
    # CPU ms/step per run tells a slow run's cause: more CPU per step is a slower CPU (other
    # work on the host), the same CPU per step is idle cores (scheduling, waiting).
    cpu = row.get("cpu_ms_per_step")
    print(
        f"  {row['backend']:8s} {row['n_envs']:3d} envs: {row['steps_per_s']:8,.0f} "
        f"steps/s, start-up {row['startup_s']:.1f} s, peak PSS {row['peak_pss_mb']:,.0f} MB"
        + (f", CPU {cpu:.3f} ms/step" if cpu else ""),
        flush=True,
    )


def combine(runs: list[dict]) -> dict:
    """One row for the repeats of a setting: medians, the steps/s of every run, and the
    highest memory peak (a peak any run reached is one a user can hit)."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    row = dict(runs[0])
    for key in (
        "steps_per_s",
        "startup_s",
        "update_share",
        "cpu_ms_per_step",
        "learner_cpu_ms_per_step",
        "wall_s",
    ):
        values = [run[key] for run in runs if run.get(key) is not None]
        row[key] = statistics.median(values) if values else None
    for key in ("peak_pss_mb", "peak_rss_mb", "processes"):
        row[key] = max(run[key] for run in runs)
    row["steps_per_s_runs"] = [run["steps_per_s"] for run in runs]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="n_envs 1, 4, 16; short runs")
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS))
    parser.add_argument(
        "--backends", nargs="+", choices=[*BACKENDS, BEFORE_39], default=list(BACKENDS)
    )
    parser.add_argument("--n-envs", nargs="+", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="steady-state per run")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per setting, interleaved; medians reported"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--env-rate", help=argparse.SUPPRESS)  # internal: measure one env
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    if args.env_rate:
        print(env_rate_in_this_process(args.env_rate, args.seconds or 3.0))
        return 0

    n_envs_list = args.n_envs or ([1, 4, 16] if args.quick else [1, 2, 4, 8, 16, 32])
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    rate_seconds = 2.0 if args.quick else 4.0
    cores = usable_cores()
    rollout_per_env = shipped_n_steps()
    command = script_command("throughput.py")
    print(f"{command}\nmachine: {machine.summary_line()} (nproc {os.cpu_count()})")
    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.2f}", flush=True)

    results: list[dict] = []  # one row per setting: the repeats combined
    every_run: list[dict] = []
    limits: dict[str, dict] = {}
    before = 0.0

    def budget(backend: str, n_envs: int) -> int:
        """Total steps for about `seconds` of steady state (whole rollouts, at least 4)."""
        parallel = 1 if backend in ("dummy", "native") else min(n_envs, cores)
        # the learner's per-step work caps cheap envs near 1,500 vector steps/s
        expected = min(0.9 * before * parallel, 1500 * n_envs)
        rollout = rollout_per_env * n_envs
        return max(4, math.ceil(expected * seconds / rollout) + 1) * rollout

    with tempfile.TemporaryDirectory(prefix="rl-train-throughput-") as tmp:
        for env in args.envs:
            env_id = ENVS[env]
            before = single_core_rate(env_id, rate_seconds)
            print(f"{env}: single-core {before:,.0f} env steps/s", flush=True)
            backends = [b for b in args.backends if b != "native" or env == "simple"]
            for n_envs in n_envs_list:
                runs: dict[str, list[dict]] = {backend: [] for backend in backends}
                for repeat in range(args.repeats):
                    # Interleaved, the order rotating each repetition (A B C, B C A, ...):
                    # a slow spell of the machine hits every backend alike.
                    shift = repeat % len(backends)
                    for backend in backends[shift:] + backends[:shift]:
                        workdir = Path(tmp) / f"repeat-{repeat}"
                        row = ppo_run(env, backend, n_envs, budget(backend, n_envs), workdir)
                        runs[backend].append(row)
                        every_run.append(row)
                        report_run(row)
                        args.out.mkdir(parents=True, exist_ok=True)  # partial results, as we go
                        partial = {"single_core": {env: before}, "runs": every_run}
                        (args.out / "throughput.partial.json").write_text(json.dumps(partial))
                results.extend(combine(rows) for rows in runs.values())
            after = single_core_rate(env_id, rate_seconds)
            single = (before + after) / 2
            limits[env] = {
                "env_id": env_id,
                "single_core": single,
                "before": before,
                "after": after,
                "limit": single * cores,
            }
    load_end = os.getloadavg()

    text = write(args.out, command, cores, args.repeats, load_start, load_end, limits, results)
    print("\n" + text)
    (args.out / "throughput.partial.json").unlink(missing_ok=True)
    print(f"\nwrote {args.out / 'throughput.md'}, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
