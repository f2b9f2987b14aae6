"""What evaluation during training costs: the default job (PyBullet reach, 16 envs, W&B
offline) with --eval-freq 0, with the default --eval-freq, and with --eval-video.

Runs the real `rl-train`, the three modes interleaved (one of each per repeat, the order
rotated), and reports per mode the median wall time of the whole command and of its
steady training rate, the cost against --eval-freq 0 (the ratio of medians, and the median
of the per-repeat ratios), the seconds one evaluation takes, and for the videos the CPU
seconds one takes to draw (in the background renderer) and the wrap-up's wait for the last.

    .venv/bin/python benchmarks/eval_cost.py                 # 5 repeats
    .venv/bin/python benchmarks/eval_cost.py --repeats 3 --output-prefix \
        benchmarks/results/eval_cost.reach-200k -- --total-timesteps 200000

Writes benchmarks/results/eval_cost.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from harness import RESULTS, child_env, rl_train_command

from rl_train.machine import cpu_model, usable_cores

MODES = {"off": ["--eval-freq", "0"], "default": [], "video": ["--eval-video"]}


def one_run(mode: str, repeat: int, workdir: Path, extra: list[str]) -> dict:
    name = f"{mode}-{repeat}"
    command = rl_train_command(
        "--wandb-mode", "offline", "--output-dir", str(workdir), "--run-name", name,
        *MODES[mode], *extra,
    )  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    record = json.loads((workdir / name / "run.json").read_text())
    timings = record["timings"]
    return {
        "mode": mode,
        "repeat": repeat,
        "steps": record["steps"],
        "wall_s": wall,
        "steady_steps_per_s": timings["steady_steps_per_s"],
        "eval_s": timings.get("eval_s", []),
        "video_cpu_s": timings.get("video_cpu_s", []),
        "video_wait_s": timings.get("video_wait_s", 0.0),
        "videos": len(list((workdir / name / "videos").glob("*.mp4"))),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(rows: list[dict]) -> dict[str, dict]:
    by_mode = {mode: [r for r in rows if r["mode"] == mode] for mode in MODES}
    off_wall = {r["repeat"]: r["wall_s"] for r in by_mode["off"]}
    off_rate = median([r["steady_steps_per_s"] for r in by_mode["off"]])
    summary = {}
    for mode, runs in by_mode.items():
        wall = median([r["wall_s"] for r in runs])
        rate = median([r["steady_steps_per_s"] for r in runs])
        periodic = [s for r in runs for s in r["eval_s"][:-1]]
        summary[mode] = {
            "runs": len(runs),
            "wall_s": wall,
            "wall_cost": wall / median(list(off_wall.values())) - 1,
            "paired_wall_cost": median([r["wall_s"] / off_wall[r["repeat"]] - 1 for r in runs]),
            "steady_steps_per_s": rate,
            "steady_rate_cost": 1 - rate / off_rate,
            "evaluations": median([len(r["eval_s"]) for r in runs]),
            "one_evaluation_s": median(periodic),
            "periodic_eval_share": median(
                [sum(r["eval_s"][:-1]) / r["wall_s"] for r in runs if mode != "off"]
            ),
            "final_evaluation_s": median([r["eval_s"][-1] for r in runs if r["eval_s"]]),
            "one_video_cpu_s": median([s for r in runs for s in r["video_cpu_s"]]),
            "video_wait_s": median([r["video_wait_s"] for r in runs]),
            "videos": median([r["videos"] for r in runs]),
        }
    return summary


def pct(value: float) -> str:
    return f"{value:+.1%}" if value == value else "-"


def share(value: float) -> str:
    return f"{value:.1%}" if value == value else "-"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value == value else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "eval_cost")
    parser.add_argument("extra", nargs="*", help="more rl-train flags, after --")
    args = parser.parse_args(argv)
    command = " ".join(["python", "benchmarks/eval_cost.py", *sys.argv[1:]])
    rows = []
    order = list(MODES)
    with tempfile.TemporaryDirectory(prefix="rl-train-eval-cost-") as tmp:
        for repeat in range(args.repeats):
            for mode in order[repeat % 3 :] + order[: repeat % 3]:
                rows.append(one_run(mode, repeat, Path(tmp), args.extra))
                print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows)
    meta = {
        "command": command,
        "machine": f"{cpu_model()}, {usable_cores()} usable cores",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "job": " ".join(["rl-train --wandb-mode offline", *args.extra]),
    }
    lines = [
        "# Evaluation during training: what it costs",
        "",
        f"`{command}` on {meta['machine']}, {meta['date']}. `{meta['job']}` "
        f"({rows[0]['steps']:,} steps), {args.repeats} interleaved repeats per mode; medians. "
        "Cost: against --eval-freq 0 (which keeps the final 50-episode evaluation).",
        "",
        "| mode | wall | cost (ratio of medians) | cost (median of paired) | steady steps/s | "
        "evaluations | one evaluation | their share of wall | one video (CPU, background) | "
        "wait for the last video |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in summary.items():
        flags = " ".join(MODES[mode]) or "default --eval-freq"
        lines.append(
            f"| {flags} | {seconds(s['wall_s'])} | {pct(s['wall_cost'])} | "
            f"{pct(s['paired_wall_cost'])} | {s['steady_steps_per_s']:,.0f} | "
            f"{s['evaluations']:.0f} | {seconds(s['one_evaluation_s'])} | "
            f"{share(s['periodic_eval_share'])} | {seconds(s['one_video_cpu_s'])} | "
            f"{seconds(s['video_wait_s']) if mode == 'video' else '-'} |"
        )
    text = "\n".join(lines) + "\n"
    # Appended, not with_suffix: a prefix such as eval_cost.reach-200k has a dot of its own.
    Path(f"{args.output_prefix}.md").write_text(text)
    document = {"meta": meta, "summary": summary, "runs": rows}
    Path(f"{args.output_prefix}.json").write_text(json.dumps(document, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
