"""The learner alone: what the trainer process costs per env step when the envs cost almost
nothing, and the env steps/s it could therefore feed (its ceiling).

Runs PPO on the kinematic reach's batched env (SimpleReachVecEnv, in the trainer process:
about a million env steps/s, so what is timed is the learner) at --n-envs 16, 64 and 256, a
fresh process per run, the learners interleaved, with the shipped hyperparameters of each
shape: reach's (a 64x64 network, 64-step rollouts per env, batches of 512) and push's (the
object tasks': 256x256, 256 steps, batches of 1,024, a decaying rate):

- stock: SB3 as a user writes it, PPO over VecNormalize(VecMonitor(env)), torch's default
  threads, no callbacks;
- rl-train-sb3: the trainer as `rl-train --use-simple-env --vec-env native --learner sb3
  --update-threads 1` runs it (the trainer before #39: SB3's PPO.train on one thread);
- rl-train: the trainer as `rl-train --use-simple-env --vec-env native` runs it (--learner
  fast, the update on one thread);
- rl-train-all-cores: the same with `--update-threads 0` (the update on every usable core).

Each run's time after its first iteration is split by timers around the methods SB3 calls
(learner_ceiling_probe.py): acting (the policy's forward pass), the env's step, the wrappers
(VecNormalize, VecMonitor, the episode log), the rollout buffer, the rest of the rollout
loop (tensor conversions, action clipping, info handling), the update (PPO.train) and the
callbacks. Ceiling = env steps / (wall - env step). Projection: with C cores each stepping
the shape's PyBullet env at its single-core rate r (benchmarks/results/env_throughput.json),
PPO steps/s =
1 / (learner seconds per step + 1 / (C r)): the workers step in parallel while the learner
waits, the learner acts and updates while they wait.

    .venv/bin/python benchmarks/learner_ceiling.py                 # 3 repeats, a few minutes
    .venv/bin/python benchmarks/learner_ceiling.py --quick         # 1 repeat, reach, 16 and 64

Writes benchmarks/results/learner_ceiling.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import machine
from benchlib.command import REPO, RESULTS, child_env, shipped_n_steps
from benchlib.results import header, write_report

from rl_train.machine import usable_cores

LEARNERS = ("stock", "rl-train-sb3", "rl-train", "rl-train-all-cores")
EVERY_CORE = ("stock", "rl-train-all-cores")  # their update runs on every core
SHAPES = {"reach": "rltrain/PandaReach-v0", "push": "rltrain/PandaPush-v0"}  # PyBullet envs
SHOWN = ("acting", "env", "wrappers", "buffer", "rollout_other", "update", "callbacks")
CORES = (2, 16, 32, 64)
PROBE = (
    "import sys, learner_ceiling_probe as p; a = sys.argv; "
    "p.run(a[1], a[2], int(a[3]), int(a[4]), a[5])"
)


def one_run(learner: str, shape: str, n_envs: int, iterations: int) -> dict:
    total = iterations * shipped_n_steps(SHAPES[shape]) * n_envs
    env = child_env()
    env["PYTHONPATH"] = f"{REPO / 'benchmarks'}:{env['PYTHONPATH']}"
    with tempfile.TemporaryDirectory(prefix="rl-train-learner-") as runs:
        done = subprocess.run(
            [sys.executable, "-c", PROBE, learner, shape, str(n_envs), str(total), runs],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{learner}, {shape}, {n_envs} envs failed:\n{done.stderr[-2000:]}")
    row = json.loads(lines[-1]) | {"shape": shape, "n_envs": n_envs}
    steps, seconds = row["steps"], row["seconds"]
    row["us_per_step"] = {part: wall / steps * 1e6 for part, (wall, _) in seconds.items()}
    wall, cpu = (seconds["rollout"][i] + seconds["update"][i] - seconds["env"][i] for i in (0, 1))
    row["learner_us_per_step"], row["learner_cpu_us_per_step"] = (
        wall / steps * 1e6,
        cpu / steps * 1e6,
    )
    row["ceiling"] = steps / wall
    return row


def combine(rows: list[dict]) -> dict:
    """Medians over the repeats of one learner, shape and n_envs."""
    out = {key: rows[0][key] for key in ("learner", "shape", "n_envs")} | {"repeats": len(rows)}
    for key in ("learner_us_per_step", "learner_cpu_us_per_step", "ceiling"):
        out[key] = statistics.median(r[key] for r in rows)
    out["us_per_step"] = {p: statistics.median(r["us_per_step"][p] for r in rows) for p in SHOWN}
    out["ceilings"] = [r["ceiling"] for r in rows]
    return out


def env_rates() -> dict[str, float]:
    """Single-core env steps/s of each shape's PyBullet env, from env_throughput's results."""
    table = json.loads((RESULTS / "env_throughput.json").read_text())["envs"]
    return {shape: table[env_id]["steps_per_s_median"] for shape, env_id in SHAPES.items()}


def projection(rows: list[dict], rates: dict[str, float], measured_cores: int) -> list[dict]:
    """Each shape's learner against its PyBullet env on 2 to 64 cores (a model), two ways:
    the learner's time as measured here, and (ppo_steps_per_s_threaded) with the update of
    the learners that update on every core (EVERY_CORE) sped up in proportion to the cores,
    the most threads could give: the truth on a many-core machine lies between."""
    out = []
    for row in rows:
        rate = rates[row["shape"]]
        learner = row["learner_us_per_step"] / 1e6
        update = row["us_per_step"]["update"] / 1e6 if row["learner"] in EVERY_CORE else 0.0
        for cores in CORES:
            scaled = learner - update * (1 - min(1.0, measured_cores / cores))
            where = {key: row[key] for key in ("learner", "shape", "n_envs")}
            out.append(where | {
                "cores": cores, "limit": cores * rate,
                "ppo_steps_per_s": 1 / (learner + 1 / (cores * rate)),
                "ppo_steps_per_s_threaded": 1 / (scaled + 1 / (cores * rate)),
            })  # fmt: skip
    return out


def report(document: dict) -> str:
    rows = document["rows"]
    stock, before = (
        {(r["shape"], r["n_envs"]): r for r in rows if r["learner"] == learner}
        for learner in ("stock", "rl-train-sb3")
    )
    lines = [
        "# The learner's ceiling",
        "",
        f"`{document['command']}` on {document['machine']}, {document['date']}; load average "
        f"{document['load_start']} at start, {document['load_end']} at end. Medians of "
        f"{document['repeats']} runs per cell, learners interleaved; µs of wall time per env "
        "step, after each run's first iteration (the script's docstring: what each part is); "
        "CPU: the trainer process's, all threads.",
        "",
        f"| shape | learner | n_envs | {' | '.join(SHOWN)} | learner µs/step (CPU) "
        "| ceiling steps/s | × stock | × rl-train-sb3 |",
        "|---|---|---:|" + "---:|" * (len(SHOWN) + 4),
    ]
    for row in rows:
        parts = " | ".join(f"{row['us_per_step'][p]:.1f}" for p in SHOWN)
        times = [
            f"{row['ceiling'] / base['ceiling']:.2f}" if base else ""
            for base in (table.get((row["shape"], row["n_envs"])) for table in (stock, before))
        ]
        lines.append(
            f"| {row['shape']} | {row['learner']} | {row['n_envs']} | {parts} "
            f"| {row['learner_us_per_step']:.1f} ({row['learner_cpu_us_per_step']:.1f}) "
            f"| {row['ceiling']:,.0f} | {' | '.join(times)} |"
        )
    lines += [
        "",
        "Projection (a model, not a measurement): PPO steps/s = 1 / (learner s/step + 1 / "
        "(cores × the PyBullet env's single-core rate)), the rate from env_throughput.json; "
        "first with the learner's time as measured here, then with the update of stock and "
        "rl-train-all-cores (which update on every core; the others on one) sped up in "
        "proportion to the cores, the most threads could give. A many-core machine lies "
        "between.",
        "",
        "| shape | learner | n_envs | cores | env limit | projected PPO steps/s | of limit "
        "| update on every core, at best | of limit |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in document["projection"]:
        threaded = p.get("ppo_steps_per_s_threaded", p["ppo_steps_per_s"])
        lines.append(
            f"| {p['shape']} | {p['learner']} | {p['n_envs']} | {p['cores']} "
            f"| {p['limit']:,.0f} | {p['ppo_steps_per_s']:,.0f} "
            f"| {p['ppo_steps_per_s'] / p['limit']:.0%} | {threaded:,.0f} "
            f"| {threaded / p['limit']:.0%} |"
        )
    return "\n".join(lines) + "\n"


def plot(document: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    shapes = sorted({r["shape"] for r in document["rows"]}, key=list(SHAPES).index)
    widest = max(r["n_envs"] for r in document["rows"])
    for shape in shapes:
        for learner in LEARNERS:
            rows = [r for r in document["rows"] if (r["learner"], r["shape"]) == (learner, shape)]
            xs, ys = [r["n_envs"] for r in rows], [r["ceiling"] for r in rows]
            left.plot(xs, ys, marker="o", label=f"{shape}, {learner}")
            key = (learner, shape, widest)
            mine = [
                p for p in document["projection"] if (p["learner"], p["shape"], p["n_envs"]) == key
            ]
            right.plot([p["cores"] for p in mine], [p["ppo_steps_per_s"] for p in mine],
                       marker="o", label=f"{shape}, {learner}")  # fmt: skip
        limit = sorted(
            {(p["cores"], p["limit"]) for p in document["projection"] if p["shape"] == shape}
        )
        right.plot(*zip(*limit, strict=True), linestyle=":", color="grey")
    left.set(xscale="log", yscale="log", xlabel="--n-envs", ylabel="env steps/s the learner feeds")
    left.set_title("the learner's ceiling (envs that cost ~0)")
    right.set(xscale="log", yscale="log", xlabel="cores", ylabel="projected PPO steps/s")
    right.set_title(f"projection at {widest} envs (dotted: cores × PyBullet env rate)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, reach, 16 and 64 envs")
    parser.add_argument("--n-envs", nargs="+", type=int, default=None)
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=None)
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (--quick: 1)")
    parser.add_argument("--iterations", type=int, default=6, help="rollouts + updates per run")
    parser.add_argument("--learners", nargs="+", choices=LEARNERS, default=list(LEARNERS))
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "learner_ceiling")
    parser.add_argument(
        "--from-json", type=Path, help="re-render a result's report, projection and plot"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        document = json.loads(args.from_json.read_text())
        written = re.search(r"(\d+) usable cores", document["machine"])
        cores = document.setdefault("usable_cores", int(written.group(1)) if written else 2)
        document["projection"] = projection(document["rows"], env_rates(), cores)
        return write(document, args.output_prefix)
    n_envs_list = args.n_envs or ([16, 64] if args.quick else [16, 64, 256])
    shapes = args.shapes or (["reach"] if args.quick else list(SHAPES))
    repeats = args.repeats or (1 if args.quick else 3)
    load_start = machine.load_average()
    runs: dict[tuple[str, str, int], list[dict]] = {}
    for repeat in range(repeats):
        for shape in shapes:
            for n_envs in n_envs_list:
                shift = repeat % len(args.learners)  # the order rotates: drift hits all alike
                for learner in args.learners[shift:] + args.learners[:shift]:
                    row = one_run(learner, shape, n_envs, args.iterations)
                    runs.setdefault((learner, shape, n_envs), []).append(row)
                    print(f"{shape:5s} {learner:8s} {n_envs:4d} envs: "
                          f"{row['learner_us_per_step']:6.1f} µs/step, ceiling "
                          f"{row['ceiling']:9,.0f} steps/s", flush=True)  # fmt: skip
    rows = [
        combine(runs[key])
        for key in sorted(
            runs, key=lambda k: (list(SHAPES).index(k[1]), LEARNERS.index(k[0]), k[2])
        )
    ]
    document = header("learner_ceiling.py", argv, load_start) | {
        "repeats": repeats,
        "usable_cores": usable_cores(),
        "rows": rows,
        "projection": projection(rows, env_rates(), usable_cores()),
        "runs": [row for each in runs.values() for row in each],
    }
    return write(document, args.output_prefix)


def write(document: dict, prefix: Path) -> int:
    text = report(document)
    write_report(prefix, text, document)
    plot(document, Path(f"{prefix}.png"))
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
