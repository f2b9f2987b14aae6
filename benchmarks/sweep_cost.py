"""What Ray Tune costs a sweep: a multi-seed sweep of the kinematic reach through
`rl-train sweep` (local Ray, trials side by side on the cores) against the same runs started
one after another by hand, in wall time and peak memory (PSS of every process of the
command: for the sweep, Ray's own too).

    python benchmarks/sweep_cost.py --seeds 4 --timesteps 65536 --repeats 2

Repeats alternate the two ways (sweep first, then by hand first). Writes
benchmarks/results/sweep_cost.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from benchlib import machine
from benchlib.command import RESULTS, child_env, rl_train_command
from benchlib.processes import TreeMemory
from benchlib.results import write_report


def timed(command: list[str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    memory = TreeMemory(process.pid)
    _, stderr = process.communicate()
    memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr.decode()[-3000:]}")
    return {
        "wall_s": time.perf_counter() - started,
        "peak_pss_mb": memory.peak_pss / 2**20,
        "peak_processes": memory.peak_processes,
    }


def train_flags(timesteps: int) -> list[str]:
    return ["--use-simple-env", "--total-timesteps", str(timesteps), "--wandb-mode", "offline"]


def sweep(workdir: Path, seeds: int, timesteps: int, tag: str) -> dict[str, float]:
    command = rl_train_command(
        "sweep", "--seeds", f"0-{seeds - 1}", "--name", tag, "--output-dir", str(workdir)
    )
    return timed([*command, "--", *train_flags(timesteps)], workdir)


def by_hand(workdir: Path, seeds: int, timesteps: int, tag: str) -> dict[str, float]:
    runs = [
        timed(
            rl_train_command(
                *train_flags(timesteps),
                "--seed",
                str(seed),
                "--run-name",
                f"{tag}-s{seed}",
                "--output-dir",
                str(workdir),
            ),
            workdir,
        )
        for seed in range(seeds)
    ]
    return {
        "wall_s": sum(r["wall_s"] for r in runs),
        "peak_pss_mb": max(r["peak_pss_mb"] for r in runs),
        "peak_processes": max(r["peak_processes"] for r in runs),
        "per_run_wall_s": [r["wall_s"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=65536)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output-prefix", default=str(RESULTS / "sweep_cost"))
    args = parser.parse_args()

    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="sweep-cost-"))
    try:
        for repeat in range(args.repeats):
            order = ("sweep", "by hand") if repeat % 2 == 0 else ("by hand", "sweep")
            for way in order:
                run = sweep if way == "sweep" else by_hand
                row = {"way": way, "repeat": repeat}
                row.update(run(workdir, args.seeds, args.timesteps, f"{way[:2]}{repeat}"))
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def median(way: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["way"] == way)

    summary = {
        way: {key: median(way, key) for key in ("wall_s", "peak_pss_mb", "peak_processes")}
        for way in ("sweep", "by hand")
    }
    machine_line = machine.summary_line()
    command = (
        f"python benchmarks/sweep_cost.py --seeds {args.seeds} --timesteps {args.timesteps} "
        f"--repeats {args.repeats}"
    )
    document = {
        "command": command,
        "machine": machine_line,
        "date": date.today().isoformat(),
        "rows": rows,
        "summary": summary,
    }
    s, h = summary["sweep"], summary["by hand"]
    lines = [
        f"# Sweep cost: {args.seeds} seeds of the kinematic reach, {args.timesteps:,} steps each",
        "",
        f"`{command}`, {machine_line}, {document['date']}. Medians of {args.repeats} repeats,",
        "alternating which way runs first. Peak memory: summed PSS of every process of the",
        "command (the sweep's includes Ray's GCS, raylet, agents and workers).",
        "",
        "| way | wall time | peak memory | peak processes |",
        "|---|---|---|---|",
        f"| rl-train sweep (local Ray) | {s['wall_s']:.1f} s | {s['peak_pss_mb']:,.0f} MB "
        f"| {s['peak_processes']:.0f} |",
        f"| {args.seeds} runs one after another | {h['wall_s']:.1f} s | "
        f"{h['peak_pss_mb']:,.0f} MB | {h['peak_processes']:.0f} |",
        "",
        f"Sweep / by hand: wall time x{s['wall_s'] / h['wall_s']:.2f}, "
        f"peak memory x{s['peak_pss_mb'] / h['peak_pss_mb']:.2f}.",
        "",
    ]
    write_report(args.output_prefix, "\n".join(lines), document)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
