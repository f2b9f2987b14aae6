"""What evaluation during training costs: the default job (PyBullet reach, 16 envs, W&B
offline) with --eval-freq 0, with the default --eval-freq, and with --eval-video.

Runs the real `rl-train`, the three modes interleaved (one of each per repeat, the order
rotated), and compares each run with the --eval-freq 0 run of its repeat, two ways:

- whole run: the command's wall time. What a user sees; but this VM's own speed moves by
  a third within seconds (docs/logging-modes.md), and on a 16-second job that spread is
  wider than the targets.
- accounted: the seconds evaluation adds, each taken where the machine's spread is small.
  At the start, the model's build (beside which the evaluation envs' workers start) and
  the wait for those envs, against the --eval-freq 0 run's model build: a phase of under a
  second. During training, the periodic evaluations' own seconds: the trainer stops for
  them, and they are timed in the run. At the end, the time from the last rollout to the
  exit (the final evaluation on the evaluation envs, the last video, closing their
  workers), against --eval-freq 0's. Their sum over --eval-freq 0's wall time.
  The renderer draws the training videos on CPU time training leaves idle (SCHED_IDLE);
  its CPU is reported, and the cost if every second of it had been taken from training.

Each with the 95% interval of its median over the repeats (6 or more repeats).

    .venv/bin/python benchmarks/eval_cost.py --repeats 10
    .venv/bin/python benchmarks/eval_cost.py --repeats 6 --output-prefix \
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

from benchlib import machine
from benchlib.command import RESULTS, child_env, rl_train_command, script_command
from benchlib.results import write_report
from benchlib.stats import CONFIDENCE, judge, with_interval

MODES = {"off": ["--eval-freq", "0"], "default": [], "video": ["--eval-video"]}
TARGETS = {"default": 0.03, "video": 0.05}  # of the wall time (issue 19)


def one_run(mode: str, repeat: int, workdir: Path, extra: list[str]) -> dict:
    name = f"{mode}-{repeat}"
    command = rl_train_command(
        "--wandb-mode", "offline", "--output-dir", str(workdir), "--run-name", name,
        *MODES[mode], *extra,
    )  # fmt: skip
    started, started_at = time.perf_counter(), time.time()
    done = subprocess.run(command, env=child_env(), capture_output=True, text=True)
    wall, ended_at = time.perf_counter() - started, time.time()
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
    record = json.loads((workdir / name / "run.json").read_text())
    timings = record["timings"]
    eval_s = timings.get("eval_s", [])
    video_cpu_s = timings.get("video_cpu_s", [])
    return {
        "mode": mode,
        "repeat": repeat,
        "steps": record["steps"],
        "wall_s": wall,
        "started_at": started_at,
        "steady_steps_per_s": timings["steady_steps_per_s"],
        "startup_s": timings.get("startup_s"),
        "envs_s": timings.get("envs_s"),
        "model_s": timings.get("model_s"),
        "eval_envs_wait_s": timings.get("eval_envs_wait_s", 0.0),
        # from the last rollout's end to the exit: final evaluation, videos, closing, W&B
        "end_s": ended_at - timings["steady_ended_at"],
        "eval_s": eval_s,
        "periodic_eval_s": sum(eval_s[:-1]),  # the last one is the final evaluation
        "video_cpu_s": video_cpu_s,
        # the videos drawn while training went on (the last one is drawn at the end)
        "training_video_cpu_s": sum(video_cpu_s[:-1]),
        "video_wait_s": timings.get("video_wait_s", 0.0),
        "videos": len(list((workdir / name / "videos").glob("*.mp4"))),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def accounted(run: dict, off: dict) -> dict[str, float]:
    """The seconds `run` added to its --eval-freq 0 partner, part by part, and their share
    of the partner's wall time (module docstring)."""
    start = run["model_s"] + run["eval_envs_wait_s"] - off["model_s"]
    end = run["end_s"] - off["end_s"]
    added = start + run["periodic_eval_s"] + end
    return {
        "start_added_s": start,
        "end_added_s": end,
        "accounted_cost": added / off["wall_s"],
        "renderer_bound_cost": (added + run["training_video_cpu_s"]) / off["wall_s"],
        "whole_run_cost": run["wall_s"] / off["wall_s"] - 1,
    }


def summarise(rows: list[dict]) -> dict[str, dict]:
    by_mode = {mode: [r for r in rows if r["mode"] == mode] for mode in MODES}
    off = {r["repeat"]: r for r in by_mode["off"]}
    summary = {}
    for mode, runs in by_mode.items():
        parts = [accounted(r, off[r["repeat"]]) for r in runs if r["repeat"] in off]
        summary[mode] = {
            "runs": len(runs),
            "wall_s": median([r["wall_s"] for r in runs]),
            "steady_steps_per_s": median([r["steady_steps_per_s"] for r in runs]),
            "evaluations": median([len(r["eval_s"]) for r in runs]),
            "one_evaluation_s": median([s for r in runs for s in r["eval_s"][:-1]]),
            "final_evaluation_s": median([r["eval_s"][-1] for r in runs if r["eval_s"]]),
            "one_video_cpu_s": median([s for r in runs for s in r["video_cpu_s"]]),
            "video_wait_s": median([r["video_wait_s"] for r in runs]),
            "videos": median([r["videos"] for r in runs]),
            **{
                key: with_interval([p[key] for p in parts])
                for key in (
                    "whole_run_cost",
                    "accounted_cost",
                    "renderer_bound_cost",
                    "start_added_s",
                    "end_added_s",
                )
            },
            "periodic_eval_s": median([r["periodic_eval_s"] for r in runs]),
        }
    return summary


def judge_cost(stats: dict, limit: float) -> str:
    return judge(stats["median"], stats["ci95"], limit)


def cost_text(stats: dict) -> str:
    if stats["median"] != stats["median"]:
        return "-"
    text = f"{stats['median']:+.1%}"
    if stats["ci95"] is not None:
        low, high = stats["ci95"]
        text += f" ({low:+.1%} to {high:+.1%})"
    return text


def seconds_text(stats: dict | float) -> str:
    value = stats["median"] if isinstance(stats, dict) else stats
    return f"{value:+.2f} s" if value == value else "-"


def report(rows: list[dict], summary: dict, meta: dict, repeats: int) -> str:
    lines = [
        "# Evaluation during training: what it costs",
        "",
        f"`{meta['command']}` on {meta['machine']}, {meta['date']}. `{meta['job']}` "
        f"({rows[0]['steps']:,} steps), {repeats} interleaved repeats per mode. Costs "
        f"against the --eval-freq 0 run of the same repeat (which keeps the final "
        f"50-episode evaluation, on the training envs): median, and in brackets the "
        f"{CONFIDENCE:.0%} interval of the median.",
        "",
        "| mode | wall | whole run | accounted | start-up added | periodic evaluations | "
        "end added | one video (CPU, background) | with the renderer's CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in summary.items():
        flags = " ".join(MODES[mode]) or "default --eval-freq"
        if mode == "off":
            lines.append(f"| {flags} | {s['wall_s']:.2f} s | | | | | | | |")
            continue
        periodic = f"{s['evaluations'] - 1:.0f} × {s['one_evaluation_s']:.2f} s"
        video = f"{s['one_video_cpu_s']:.2f} s" if mode == "video" else "-"
        bound = cost_text(s["renderer_bound_cost"]) if mode == "video" else "-"
        lines.append(
            f"| {flags} | {s['wall_s']:.2f} s | {cost_text(s['whole_run_cost'])} | "
            f"{cost_text(s['accounted_cost'])} | {seconds_text(s['start_added_s'])} | "
            f"{periodic} | {seconds_text(s['end_added_s'])} | {video} | {bound} |"
        )
    lines += ["", "Targets (issue 19):", ""]
    for mode, limit in TARGETS.items():
        if mode not in summary:
            continue
        s = summary[mode]
        lines.append(
            f"- {mode}: accounted cost {cost_text(s['accounted_cost'])} "
            f"(target ≤ {limit:.0%}): {judge_cost(s['accounted_cost'], limit)}; whole run "
            f"{cost_text(s['whole_run_cost'])}: {judge_cost(s['whole_run_cost'], limit)}"
        )
    lines += [
        "",
        "Accounted: the model's build plus the wait for the evaluation envs, minus the "
        "--eval-freq 0 run's model build (start-up added); the periodic evaluations' seconds, "
        "timed in the run; the time from the last rollout to the exit minus --eval-freq 0's "
        "(end added: the final evaluation on the evaluation envs and the last video); their "
        "sum over --eval-freq 0's wall time. With the renderer's CPU: as if every CPU-second "
        "the renderer spent on the videos drawn during training had been taken from training "
        "(it runs SCHED_IDLE, on CPU time training leaves idle).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "eval_cost")
    parser.add_argument("extra", nargs="*", help="more rl-train flags, after --")
    args = parser.parse_args(argv)
    command = script_command("eval_cost.py")
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
        "machine": machine.summary_line(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "job": " ".join(["rl-train --wandb-mode offline", *args.extra]),
    }
    text = report(rows, summary, meta, args.repeats)
    document = {"meta": meta, "summary": summary, "runs": rows}
    write_report(args.output_prefix, text, document)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
