"""Disk use of a run's checkpoints in its W&B folder, per --wandb-checkpoints policy.

Runs the real `rl-train` (offline W&B, the env's shipped settings, the default
--checkpoint-freq and --keep-checkpoints) once per policy for the same number of steps,
and reports per policy: checkpoints written, checkpoints on disk, checkpoints in the W&B
folder and their bytes, the run dir's bytes (each file once, as `rl-train runs list`
counts) and what `wandb sync` would upload. From the per-checkpoint size it also states
the W&B folder of a full shipped-length run under each policy (arithmetic, not a run).

    .venv/bin/python benchmarks/checkpoint_storage.py                  # push, 200k steps
    .venv/bin/python benchmarks/checkpoint_storage.py --env reach --total-timesteps 49152

Writes benchmarks/results/checkpoint_storage.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchlib import machine
from benchlib.command import RESULTS, child_env, rl_train_command, script_command
from benchlib.results import write_report

from rl_train.store.query import dir_size

POLICIES = ("all", "kept", "final")
ENV_IDS = {"push": "rltrain/PandaPush-v0", "reach": "rltrain/PandaReach-v0"}


def one_run(env: str, policy: str, total: int, workdir: Path) -> dict:
    name = f"{env}-{policy}"
    command = rl_train_command(
        "--env", env, "--total-timesteps", str(total), "--wandb-mode", "offline",
        "--wandb-checkpoints", policy, "--output-dir", str(workdir), "--run-name", name,
    )  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    run_dir = workdir / name
    (folder,) = (run_dir / "wandb").glob("offline-run-*")
    copies = sorted((folder / "files" / "checkpoints").glob("*"))
    checkpoint_sizes = [dir_size(p) for p in (run_dir / "checkpoints").glob("[0-9]*")]
    return {
        "policy": policy,
        "steps": total,
        "wall_s": time.perf_counter() - started,
        "on_disk": len(checkpoint_sizes),
        "checkpoint_bytes": max(checkpoint_sizes),
        "in_wandb": len(copies),
        "wandb_checkpoint_bytes": sum(dir_size(p) for p in copies),
        "wandb_folder_bytes": dir_size(folder),
        "run_dir_bytes": dir_size(run_dir),
    }


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", choices=list(ENV_IDS), default="push")
    parser.add_argument("--total-timesteps", type=int, default=200_000)
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "checkpoint_storage")
    args = parser.parse_args(argv)
    from rl_train.config import hyperparams
    from rl_train.config.train_config import TrainConfig

    shipped = hyperparams.shipped(ENV_IDS[args.env])
    full_length = int(shipped["n_timesteps"])
    every = TrainConfig.checkpoint_freq
    command = script_command("checkpoint_storage.py")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rl-train-ckpt-storage-") as tmp:
        for policy in POLICIES:
            rows.append(one_run(args.env, policy, args.total_timesteps, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    size = max(row["checkpoint_bytes"] for row in rows)
    # One checkpoint per --checkpoint-freq steps, at rollout starts, plus the final one.
    written_full = full_length // every + 1
    kept = TrainConfig.keep_checkpoints
    projected = {"all": written_full * size, "kept": kept * size, "final": size}
    meta = {
        "command": command,
        "machine": machine.summary_line(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "env": ENV_IDS[args.env],
        "checkpoint_freq": every,
        "keep_checkpoints": kept,
        "shipped_n_timesteps": full_length,
    }
    lines = [
        f"# W&B checkpoint storage: {ENV_IDS[args.env]}, {args.total_timesteps:,} steps",
        "",
        f"`{command}` on {meta['machine']}, {meta['date']}; --checkpoint-freq {every:,}, "
        f"--keep-checkpoints {kept}, W&B offline.",
        "",
        "| --wandb-checkpoints | on disk | in the W&B folder | their bytes | W&B folder | "
        "run dir (each file once) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['policy']} | {row['on_disk']} | {row['in_wandb']} | "
            f"{mb(row['wandb_checkpoint_bytes'])} | {mb(row['wandb_folder_bytes'])} | "
            f"{mb(row['run_dir_bytes'])} |"
        )
    lines += [
        "",
        f"One checkpoint: {mb(size)}. A shipped-length run ({full_length:,} steps, "
        f"{written_full} checkpoints written) holds in its W&B folder, and `runs sync` uploads: "
        + ", ".join(f"{policy} {mb(value)}" for policy, value in projected.items())
        + " (computed from the checkpoint size, not measured by a full run).",
    ]
    text = "\n".join(lines) + "\n"
    document = {"meta": meta, "runs": rows, "projected_wandb_bytes": projected}
    write_report(args.output_prefix, text, document)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
