"""PPO settings: what the update costs against how fast reach learns.

The PPO update runs in the learner alone while every env worker waits, so its share of
the wall time is throughput lost. Fewer or larger mini-batches make it cheaper, but may
slow learning. For each candidate setting this runs the real `rl-train` command on the
PyBullet reach (with --simple, the kinematic one), 16 envs, the env's default vec env and
budget, W&B disabled, for several seeds, and reports per setting: the update share (update
time over rollout + update time), PPO steps/s, the deterministic success rate after
training (50 episodes) and the env steps at which the rollout success rate first reached
95%.

    .venv/bin/python benchmarks/update_share.py                 # every setting, 3 seeds
    .venv/bin/python benchmarks/update_share.py --settings b512-e10 b1024-e10 --seeds 0 1

Writes benchmarks/results/update_share.{md,json}. The learning columns do not depend on
the machine's load; steps/s and the update share do (run it on a quiet machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from benchlib import machine
from benchlib.command import RESULTS, child_env, reach_run_command, script_command, update_share_of

SUCCESS_TARGET = 0.95

# n_steps is per env (16 envs): 64 -> 1,024-step rollouts. Gradient steps per rollout =
# n_epochs x rollout / batch_size.
SETTINGS: dict[str, dict] = {
    "b512-e10": {"n_steps": 64, "batch_size": 512, "n_epochs": 10},  # 20 gradient steps
    "b1024-e10": {"n_steps": 64, "batch_size": 1024, "n_epochs": 10},  # 10
    "b512-e5": {"n_steps": 64, "batch_size": 512, "n_epochs": 5},  # 10
    "b1024-e5": {"n_steps": 64, "batch_size": 1024, "n_epochs": 5},  # 5
    "n128-b2048-e10": {"n_steps": 128, "batch_size": 2048, "n_epochs": 10},  # 10 per 2,048
}


def steps_to_success(metrics_file: Path) -> int | None:
    """The first logged step whose rollout success rate is >= SUCCESS_TARGET."""
    for line in metrics_file.read_text().splitlines():
        row = json.loads(line)
        rate = row.get("rollout/success_rate")
        if rate is not None and rate >= SUCCESS_TARGET:
            return int(row["_step"])
    return None


def one_run(setting: str, seed: int, total: int | None, workdir: Path, env: str) -> dict:
    name = f"{setting}-s{seed}-{env}"
    config_file = workdir / f"{setting}.yml"
    config_file.write_text(yaml.safe_dump(SETTINGS[setting]))
    flags = ["--n-envs", "16", "--seed", str(seed), "--config", str(config_file)]
    if total:
        flags += ["--total-timesteps", str(total)]
    command = reach_run_command(env, workdir, name, flags)
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        return {"setting": setting, "seed": seed, "error": done.stderr[-500:]}
    record = json.loads((workdir / name / "run.json").read_text())
    return {
        "setting": setting,
        "seed": seed,
        "steps": record["steps"],
        "success_rate": record["success_rate"],
        "steps_to_95": steps_to_success(workdir / name / "metrics.jsonl"),
        "update_share": update_share_of(record["timings"]),
        "steps_per_s": record["timings"]["steady_steps_per_s"],
    }


def summary_table(results: list[dict], settings: list[str]) -> str:
    lines = [
        "| setting | PPO arguments | gradient steps per 1k env steps | update share "
        "| PPO steps/s | eval success (per seed) | rollout success >= 95% after (per seed) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for setting in settings:
        rows = [r for r in results if r["setting"] == setting and "error" not in r]
        if not rows:
            lines.append(f"| {setting} | failed | | | | | |")
            continue
        args = SETTINGS[setting]
        grad_steps = args["n_epochs"] / args["batch_size"] * 1000
        share = statistics.median(r["update_share"] for r in rows)
        rate = statistics.median(r["steps_per_s"] for r in rows)
        success = ", ".join(
            f"{r['success_rate']:.0%}" if r["success_rate"] is not None else "-" for r in rows
        )
        reached = ", ".join(
            f"{r['steps_to_95'] / 1000:.0f}k" if r["steps_to_95"] else "never" for r in rows
        )
        text = ", ".join(f"{k} {v}" for k, v in args.items())
        lines.append(
            f"| {setting} | {text} | {grad_steps:.1f} | {share:.1%} | {rate:,.0f} "
            f"| {success} | {reached} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--simple", action="store_true", help="the kinematic reach (native vec env) instead"
    )
    parser.add_argument(
        "--total-timesteps", type=int, default=None, help="default: the env's shipped budget"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--output-prefix", default="update_share")
    args = parser.parse_args(argv)

    command = script_command("update_share.py")
    print(f"{command}\nmachine: {machine.summary_line()}", flush=True)
    env = "simple" if args.simple else "reach"
    env_text = "kinematic reach (native vec env)" if args.simple else "PyBullet reach (shm)"
    load_start = machine.load_average()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rl-train-update-share-") as tmp:
        # Seed-major order: a drift of the machine's speed spreads over every setting.
        for seed in args.seeds:
            for setting in args.settings:
                row = one_run(setting, seed, args.total_timesteps, Path(tmp), env)
                results.append(row)
                print(json.dumps(row), flush=True)
    load_end = machine.load_average()
    steps = sorted({row["steps"] for row in results if "steps" in row})
    text = "\n".join(
        [
            f"Command: `{command}`",
            f"Machine: {machine.summary_line()}; load average "
            f"{load_start:.2f} at start, {load_end:.2f} at end.",
            "",
            f"{env_text}, 16 envs, {', '.join(f'{n:,}' for n in steps)} steps, seeds "
            f"{', '.join(map(str, args.seeds))}; other PPO arguments as shipped. Update share "
            "and steps/s: medians over the seeds. Eval success: deterministic, 50 episodes "
            "after training.",
            "",
            summary_table(results, args.settings),
        ]
    )
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.output_prefix}.md").write_text(text + "\n")
    (args.out / f"{args.output_prefix}.json").write_text(
        json.dumps({"command": command, "results": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
