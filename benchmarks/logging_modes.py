"""What W&B logging costs: disabled vs offline vs online, measured on the real CLI.

Runs `rl-train` as subprocesses: the same job (env, seed, --n-envs 16, budget) in each
W&B mode, repeated with the modes interleaved (A B C, B C A, C A B ...) so machine drift hits
all alike, for the simple kinematic env and the PyBullet env, with the default and the
heavy logging profile. Reads what each run leaves (run.json timings, its run dir) and
what the benchmark observes from outside (peak memory of the process tree, bytes
written, bytes sent to the server through a counting loopback proxy), then writes a
Markdown table, CSV + JSON of every run and a PNG chart under benchmarks/results/.

    python benchmarks/logging_modes.py --quick      # a few minutes, one repetition
    python benchmarks/logging_modes.py              # the full table (3 repetitions)

Online mode uses WANDB_BASE_URL / WANDB_API_KEY (or --server-url / --api-key); without a
reachable server its rows say "unavailable" and why, after at most a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from benchlib import machine, results, wandb_probes
from benchlib.command import RESULTS, child_env, reexec_in_project_venv, script_command
from benchlib.network import OnlineTarget, link_description
from logging_modes_report import BYTES_SENT_HOW, MEMORY_HOW, write_outputs
from logging_modes_run import (
    ENVS,
    MODES,
    PROFILES,
    ROLLOUT_STEPS_PER_ENV,
    RunSpec,
    budgets,
    job_text,
    probes,
    run_one,
)

# --------------------------------------------------------------------------------- plan


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/logging_modes.py",
        description="Measure what disabled / offline / online W&B logging cost in rl-train: "
        "the real CLI as subprocesses, modes interleaved, medians and ratios to disabled. "
        "Writes benchmarks/results/logging_modes.{md,csv,json,png} and prints the table.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one repetition, short budgets (a few minutes); writes "
        "logging_modes.quick.* unless --output-prefix is given",
    )
    parser.add_argument(
        "--reps", type=int, default=None, help="repetitions per mode (default: 3, --quick: 1)"
    )
    parser.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS))
    parser.add_argument("--profiles", nargs="+", choices=PROFILES, default=list(PROFILES))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument(
        "--vec-env",
        default=None,
        help="rl-train --vec-env (default: rl-train's own: native for the simple env, shm for "
        "PyBullet)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--simple-rollouts",
        type=int,
        default=30,
        help="budget of the simple env, in rollouts of n-envs x 64 steps (default: 30)",
    )
    parser.add_argument(
        "--pybullet-rollouts",
        type=int,
        default=100,
        help="budget of the PyBullet env, in rollouts (default: 100: the first rollout and "
        "the start-up do not weigh on the steady state)",
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("WANDB_BASE_URL", ""),
        help="W&B server for online mode (default: $WANDB_BASE_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("WANDB_API_KEY", ""),
        help="its API key (default: $WANDB_API_KEY)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="online: round-trip latency the loopback proxy adds, half each way (default: 0)",
    )
    parser.add_argument(
        "--bandwidth-kbps",
        type=float,
        default=0.0,
        help="online: the proxy's bandwidth cap in kbit/s, each way, shared by all "
        "connections (default: 0, no cap)",
    )
    parser.add_argument(
        "--wandb-finish-timeout",
        type=float,
        default=None,
        help="rl-train --wandb-finish-timeout for every run (default: rl-train's own)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        help="seconds before a run is killed and counted as failed",
    )
    parser.add_argument(
        "--output-prefix",
        type=Path,
        default=None,
        help="where results go, without suffix (default: benchmarks/results/logging_modes)",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where the runs are written (default: a temporary dir)",
    )
    parser.add_argument("--keep-runs", action="store_true", help="keep every run dir and log")
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the discarded warm-up run (it fills the page cache)",
    )
    parser.add_argument(
        "--probe-reps",
        type=int,
        default=3,
        help="times to time the trainer's W&B start/finish alone, without env workers "
        "(default: 3; 0: skip)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="run no training: rebuild the table, CSV and chart from a JSON this script "
        "wrote (with --add-probe: also run the W&B start probe if the JSON has none)",
    )
    parser.add_argument(
        "--idle-probe-s",
        type=float,
        default=20.0,
        help="seconds to measure an idle offline W&B run's CPU (default: 20; 0: skip)",
    )
    parser.add_argument(
        "--no-host-check",
        action="store_true",
        help="skip timing a fixed loop before the runs (the machine's own speed spread)",
    )
    parser.add_argument("--add-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.output_prefix is None and args.from_json is not None:
        args.output_prefix = args.from_json.parent / args.from_json.stem  # next to it
    if args.output_prefix is None:
        name = "logging_modes.quick" if args.quick else "logging_modes"
        args.output_prefix = RESULTS / name
    return args


def plan(args: argparse.Namespace) -> list[RunSpec]:
    steps = budgets(args)
    rollout = ROLLOUT_STEPS_PER_ENV * args.n_envs
    specs = []
    for env in args.envs:
        for profile in args.profiles:
            for rep in range(args.reps):
                # Interleaved, and the order rotates each repetition (A B C, B C A, C A B):
                # with the same order every time, a drift within a repetition (the VM
                # speeds up or slows down over minutes) would always favour the same mode.
                shift = rep % len(args.modes)
                for mode in args.modes[shift:] + args.modes[:shift]:
                    specs.append(
                        RunSpec(
                            env,
                            profile,
                            mode,
                            rep,
                            steps[env],
                            checkpoint_freq=2 * rollout if profile == "heavy" else None,
                        )
                    )
    return specs


# ---------------------------------------------------------------------------------- run


def run_all(
    args: argparse.Namespace, specs: list[RunSpec], work_dir: Path, meta: dict, partial: Path
) -> list[dict[str, Any]]:
    """Every planned run in order, a failed one once more at the end; the runs so far are
    kept in `partial` (render a stopped benchmark's with --from-json)."""
    run_env, online = child_env(), None
    if "online" in args.modes:
        online = OnlineTarget(
            args.server_url, args.api_key, run_env, args.latency_ms, args.bandwidth_kbps
        )
        if online.unavailable:
            print(f"online mode unavailable: {online.unavailable}", flush=True)
    meta["online_unavailable"] = online and online.unavailable
    runs: list[dict[str, Any]] = []
    queue, retried = list(specs), set()
    try:
        while queue:
            spec = queue.pop(0)
            is_online = spec.mode == "online"
            if is_online and online.env is None:  # (online: planned only when asked)
                where = {"env": spec.env, "profile": spec.profile, "rep": spec.rep}
                runs.append({**where, "mode": "online", "status": "unavailable",
                             "reason": online.unavailable})  # fmt: skip
                continue
            result = run_one(
                spec,
                args,
                work_dir,
                online.env if is_online else run_env,
                online.proxy if is_online else None,
                online.server if is_online else None,
            )
            result["retry"] = spec.name in retried
            result["order"] = len(runs)  # its place in the sequence (stats.drift_reference)
            runs.append(result)
            results.write_json(partial, {"meta": meta, "runs": runs})
            rate = result.get("steady_steps_per_s")
            print(
                f"[{len(runs)}/{len(specs) + len(retried)}] {spec.name}: {result['status']}"
                + (f", {rate:,.0f} steps/s" if rate else "")
                + (f", startup {result['startup_s']:.1f} s" if result.get("startup_s") else "")
                + (f" ({result['reason']})" if result.get("reason") else ""),
                flush=True,
            )
            first_online = not any(r["mode"] == "online" and r["status"] == "ok" for r in runs)
            if is_online and result["status"] == "failed" and first_online:
                online.give_up(f"first online run failed: {result['reason']}")
                meta["online_unavailable"] = online.unavailable
            elif result["status"] == "failed" and spec.name not in retried:
                # Once more at the end (a passing hiccup, e.g. a file being edited in a
                # shared checkout); the failed attempt stays in the CSV/JSON.
                retried.add(spec.name)
                queue.append(spec)
    finally:
        if online is not None:
            online.close()
    return runs


# ------------------------------------------------------------------------------- report


def rerender(args: argparse.Namespace) -> int:
    """--from-json: the table, CSV and chart of runs made before, nothing run."""
    saved = json.loads(args.from_json.read_text())
    for order, run in enumerate(saved["runs"]):
        run.setdefault("order", order)  # written in the order they ran
    if args.add_probe and not saved["meta"].get("probe"):
        saved["meta"]["probe"] = wandb_probes.probe_wandb_start(args.probe_reps, child_env())
    text, _ = write_outputs(saved["runs"], saved["meta"], args.output_prefix)
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reexec_in_project_venv("logging_modes.py")
    if args.from_json is not None:
        return rerender(args)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="rl-train-logging-modes-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    specs = plan(args)
    meta: dict[str, Any] = {
        "command": script_command("logging_modes.py", argv),
        "started": datetime.now().isoformat(timespec="seconds"),
        "machine": machine.describe(),
        "load_before": machine.load_text(),
        "job": job_text(args),
        "bytes_sent_how": BYTES_SENT_HOW,
        "memory_how": MEMORY_HOW,
        "server": args.server_url if "online" in args.modes else None,
        "link": link_description(args.latency_ms, args.bandwidth_kbps),
    }
    (partial,) = results.paths(args.output_prefix, ".partial.json")
    try:
        probes(args, specs, work_dir, meta)
        runs = run_all(args, specs, work_dir, meta, partial)
    finally:
        if args.work_dir is None and not args.keep_runs:
            shutil.rmtree(work_dir, ignore_errors=True)
    meta["load_after"] = machine.load_text()
    meta["finished"] = datetime.now().isoformat(timespec="seconds")
    text, paths = write_outputs(runs, meta, args.output_prefix)
    partial.unlink(missing_ok=True)
    print(f"\n{text}\nwrote " + ", ".join(results.shown(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
