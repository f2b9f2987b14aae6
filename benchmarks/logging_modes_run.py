"""One run of the logging-modes benchmark: the real `rl-train` in one W&B mode, watched from
outside (memory, CPU of each kind of process, bytes written and sent), and what its run
dir and run.json say afterwards."""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchlib import machine, wandb_probes
from benchlib.command import REPO, child_env, rl_train_command
from benchlib.network import CountingProxy
from benchlib.processes import CpuTimeline, cpu_seconds, kill_tree, process_tree, tree_rss

from rl_train.store.query import dir_size

MODES = ("disabled", "offline", "online")
ENVS = {"pybullet": [], "simple": ["--use-simple-env"]}  # the default job first
ENV_NAMES = {"simple": "simple kinematic reach", "pybullet": "PyBullet reach"}
PROFILES = ("default", "heavy")
ROLLOUT_STEPS_PER_ENV = 64  # n_steps of the shipped hyperparameters
MEMORY_POLL_S = 0.5


@dataclass
class RunSpec:
    env: str
    profile: str
    mode: str
    rep: int
    total_timesteps: int
    checkpoint_freq: int | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.env}-{self.profile}-{self.mode}-r{self.rep}"


def cli_args(spec: RunSpec, args: argparse.Namespace, output_dir: Path) -> list[str]:
    cli = [
        *ENVS[spec.env],
        "--n-envs", str(args.n_envs),
        *(["--vec-env", args.vec_env] if args.vec_env else []),
        "--seed", str(args.seed),
        "--total-timesteps", str(spec.total_timesteps),
        "--wandb-mode", spec.mode,
        "--log-profile", spec.profile,
        "--output-dir", str(output_dir),
        "--run-name", spec.name,
        "--wandb-project", "rl-train-logging-modes",
    ]  # fmt: skip
    if spec.checkpoint_freq is not None:
        cli += ["--checkpoint-freq", str(spec.checkpoint_freq)]
    if getattr(args, "wandb_finish_timeout", None):
        cli += ["--wandb-finish-timeout", str(args.wandb_finish_timeout)]
    return cli + spec.extra


def steady_accounting(
    result: dict[str, Any], timeline: CpuTimeline, mode: str
) -> dict[str, float | None]:
    """What W&B takes from the steady state, in shares of its wall time, from CPU seconds
    over exactly that span (host-independent; see CpuTimeline):

    - steady_wandb_share: the logging process's and wandb-core's CPU. On a machine whose
      cores are all busy, each CPU-second W&B's processes take delays training by at most
      that second (at most: while one core runs W&B, the other goes on), so this bounds
      the wall-clock cost of W&B's processes.
    - steady_log_share: the trainer's own W&B work, rows and files (all of the run's).
    - steady_cost_bound: the two together: what offline W&B can cost a long run at most.
    - steady_server_share: a loopback server's CPU (online; a real server runs elsewhere).
    - trainer_wandb_cpu_share: the trainer's CPU in rl-train's W&B code (rows, files; the
      whole run's, timed in the run) over its CPU in the steady state: W&B adds at most that
      to the trainer's CPU per step, code paths being otherwise the same in every mode."""
    start, end = result.get("steady_started_at"), result.get("steady_ended_at")
    spans = timeline.over(start, end) if start and end else None
    if spans is None:
        return {}
    wall = end - start
    out: dict[str, float | None] = {"steady_wall_s": wall}
    if mode == "disabled":
        return out
    wandb_cpu = spans["logging"] + spans["core"]
    out["steady_wandb_cpu_s"] = wandb_cpu
    out["steady_wandb_share"] = wandb_cpu / wall
    out["steady_wandb_switches_per_s"] = (spans["logging_switches"] + spans["core_switches"]) / wall
    # The trainer's W&B code, timed (rows and files); runs from before it was timed
    # have only their log calls.
    trainer_s = result.get("wandb_trainer_s", result.get("log_seconds")) or 0.0
    out["steady_log_share"] = trainer_s / wall
    trainer_cpu = result.get("steady_main_cpu_s")
    if result.get("wandb_trainer_cpu_s") is not None and trainer_cpu:
        out["trainer_wandb_cpu_share"] = result["wandb_trainer_cpu_s"] / trainer_cpu
    out["steady_cost_bound"] = out["steady_wandb_share"] + out["steady_log_share"]
    if mode == "online":
        out["steady_server_share"] = spans["server"] / wall
    return out


def run_one(
    spec: RunSpec,
    args: argparse.Namespace,
    work_dir: Path,
    child_env: dict[str, str],
    proxy: CountingProxy | None,
    server: Any = None,
) -> dict[str, Any]:
    output_dir = work_dir / "runs"
    command = rl_train_command(*cli_args(spec, args, output_dir))
    result: dict[str, Any] = {
        "env": spec.env,
        "profile": spec.profile,
        "mode": spec.mode,
        "rep": spec.rep,
        "total_timesteps": spec.total_timesteps,
        "command": shlex.join(command),
    }
    if proxy is not None:
        proxy.reset()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_before = cpu_seconds(server) if server is not None else None
    log_path = work_dir / f"{spec.name}.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
        peak_rss, deadline = 0, started + args.run_timeout
        timeline = CpuTimeline()
        while process.poll() is None:
            tree = process_tree(process.pid)
            peak_rss = max(peak_rss, tree_rss(tree))
            timeline.sample(tree, process.pid, server)
            if time.perf_counter() > deadline:
                kill_tree(process.pid)
                process.wait()
                break
            time.sleep(MEMORY_POLL_S)
    wall_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(wall_s=wall_s, exit_code=process.returncode, peak_rss_bytes=peak_rss)
    # CPU seconds of the reaped process tree: far less sensitive to other load on the
    # machine than wall-clock rates, so it shows what W&B adds even on a busy machine.
    result["cpu_s"] = (usage.ru_utime + usage.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime
    )
    result["wandb_core_cpu_s"] = timeline.total("core")
    result["logging_process_cpu_s"] = timeline.total("logging")
    if server_cpu_before is not None:
        # A loopback server shares the cores with training: its work is part of the cost.
        server_cpu = cpu_seconds(server)
        result["server_cpu_s"] = server_cpu - server_cpu_before if server_cpu else None
    # Blocks written by the reaped process tree (trainer, env workers): every file
    # write, including checkpoints that were pruned later.
    result["bytes_written"] = (usage.ru_oublock - usage_before.ru_oublock) * 512
    if proxy is not None:
        result["bytes_sent"], result["bytes_received"] = proxy.reset()
    run_dir = output_dir / spec.name
    if wall_s >= args.run_timeout:
        result.update(status="failed", reason=f"timed out after {args.run_timeout:.0f} s")
    elif process.returncode != 0 or not (run_dir / "run.json").exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        result.update(status="failed", reason=f"exit {process.returncode}: {tail[0][:200]}")
    else:
        result["status"] = "ok"
        record = json.loads((run_dir / "run.json").read_text())
        timings = record.get("timings", {})
        result.update(timings)
        calls = timings.get("log_calls") or 0
        result["log_call_us"] = timings["log_seconds"] / calls * 1e6 if calls else None
        process_s = timings.get("log_process_seconds")
        result["log_process_us"] = process_s / calls * 1e6 if calls and process_s else None
        learn_s = (timings.get("rollout_s_total") or 0) + (timings.get("update_s_total") or 0)
        values = timings.get("values_logged") or 0
        result["values_per_s"] = values / learn_s if learn_s > 0 and values else None
        if spec.mode == "disabled":
            for key in ("wandb_init_s", "wandb_wait_s", "wandb_finish_s", "wandb_import_s"):
                result[key] = None  # no W&B run: nothing to time
        uploads = list(record.get("uploads", {}).values())
        if spec.mode == "online":
            # Did the server get it all within the finish bound (store/upload.py)?
            result["upload_complete"] = bool(uploads) and all(u["complete"] for u in uploads)
        result["run_dir_bytes"] = dir_size(run_dir)
        result["wandb_dir_bytes"] = dir_size(run_dir / "wandb")
        result["steps"] = record.get("steps")
        if record.get("steps"):
            result["cpu_ms_per_1k_steps"] = result["cpu_s"] / record["steps"] * 1e6
        result.update(steady_accounting(result, timeline, spec.mode))
    if not args.keep_runs:
        shutil.rmtree(run_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    return result


def budgets(args: argparse.Namespace) -> dict[str, int]:
    rollout = ROLLOUT_STEPS_PER_ENV * args.n_envs
    if args.quick:
        return {"simple": 8 * rollout, "pybullet": 4 * rollout}
    return {"simple": args.simple_rollouts * rollout, "pybullet": args.pybullet_rollouts * rollout}


def job_text(args: argparse.Namespace) -> str:
    steps = ", ".join(
        f"{env} {count:,} steps" for env, count in budgets(args).items() if env in args.envs
    )
    return (
        f"--n-envs {args.n_envs} --vec-env {args.vec_env or 'default'} --seed {args.seed}; "
        f"budgets {steps}; {args.reps} repetition(s), modes interleaved; heavy profile: "
        f"--checkpoint-freq {2 * ROLLOUT_STEPS_PER_ENV * args.n_envs}"
    )


def probes(args: argparse.Namespace, specs: list[RunSpec], work_dir: Path, meta: dict) -> None:
    """Before the runs: a discarded warm-up run, the host's own speed, W&B alone."""
    run_env = child_env()
    if not args.no_warmup and specs:
        rollouts = 2 * ROLLOUT_STEPS_PER_ENV * args.n_envs
        print("warm-up run (discarded) ...", flush=True)
        warm = RunSpec(specs[0].env, "default", "disabled", -1, rollouts)
        run_one(warm, args, work_dir, run_env, None)
    if not args.no_host_check:
        print("host speed check (a fixed loop, 10 times) ...", flush=True)
        meta["host"] = machine.host_speed()
    if args.probe_reps > 0 and "offline" in args.modes:
        print(f"W&B start probe x{args.probe_reps} ...", flush=True)
        meta["probe"] = wandb_probes.probe_wandb_start(args.probe_reps, run_env)
    if args.idle_probe_s > 0 and "offline" in args.modes:
        print(f"W&B idle probe ({args.idle_probe_s:g} s) ...", flush=True)
        meta["idle"] = wandb_probes.probe_wandb_idle(args.idle_probe_s, run_env)
