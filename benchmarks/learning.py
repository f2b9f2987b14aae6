"""Learning results on several seeds: train reach, push and pick-and-place at the shipped
settings, and score each run's final and best policies on its test episodes.

    .venv/bin/python benchmarks/learning.py --tasks push --seeds 0 1 2
    .venv/bin/python benchmarks/learning.py --tasks reach push pick_and_place --report-only

Plan: one `rl-train --env TASK --seed S` run per task and seed, under --runs-dir (W&B
disabled: logging does not change what is learned). Run: each run in turn, resumed where an
earlier call left it (`rl-train --resume`): a job of hours survives an interruption; Ctrl-C
or SIGTERM stop the run at its next rollout start, saved. Then `rl-train eval` of its final
and its best checkpoint on --episodes test episodes (seed + 2,000,000 + i: never trained on,
never used to choose best), kept beside the run. Report, rewritten after each seed: per seed
the success rates with 95% Wilson intervals, the pooled rate, the steps and training wall
time until rollout success (standard starts) and the validation evaluations first reach
90%, and a plot with one curve per seed: benchmarks/results/learning.<task>.{md,json,png}.

Across machines and fresh checkouts (runs/ is not in git): a stopped run is packed
(`rl-train runs pack`) into --packed-dir, which is in git; a later call on a checkout
without the run unpacks it and resumes it exactly, and deletes the archive once the report
holds the run's scores. A seed the earlier report of the same command already scored is
kept from it, not trained again, when its run is not here.

Wall times are the trainer's own (SB3's time/time_elapsed, summed over sessions): the time a
run was stopped does not count, the time another job shared the machine does.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

from benchlib import machine
from benchlib.command import REPO, RESULTS, child_env, rl_train_command
from benchlib.results import write_report
from learning_report import TARGET, markdown, plot, trained_span

from rl_train.evaluation.stats import wilson_interval

TASKS = ("reach", "push", "pick_and_place")
ROLLOUT = "rollout/success_rate"
VALIDATION = "eval/success_rate"
ELAPSED = "time/time_elapsed"


# ---------------------------------------------------------------- plan and run


def run_name(task: str, seed: int) -> str:
    return f"{task}-s{seed}"


def recorded_state(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / "run.json").read_text())["state"]
    except (OSError, ValueError, KeyError):
        return None


def packed_path(packed_dir: Path, task: str, seed: int) -> Path:
    return packed_dir / f"{run_name(task, seed)}.tar.gz"


def rl_train(*args: str) -> str:
    """An `rl-train` step of this script (eval, runs pack, runs unpack): its output; its
    failure ends the script with its line."""
    done = subprocess.run(
        rl_train_command(*args), env=child_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"learning: rl-train {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def train(
    task: str, seed: int, runs_dir: Path, packed_dir: Path, total_timesteps: int | None = None
) -> bool:
    """The run trained to its end: started, or resumed from its last checkpoint (here, or
    packed by a call on another checkout). False: it had ended before."""
    run_dir = runs_dir / run_name(task, seed)
    archive = packed_path(packed_dir, task, seed)
    if not run_dir.exists() and archive.is_file():
        print(f"learning: unpacking {archive} into {runs_dir}", flush=True)
        rl_train("runs", "unpack", str(archive), "--output-dir", str(runs_dir))
    state = recorded_state(run_dir)
    if state == "finished":
        return False
    if state is None:
        args = ["--env", task, "--seed", str(seed), "--run-name", run_dir.name]
        args += ["--output-dir", str(runs_dir), "--wandb-mode", "disabled"]
        if total_timesteps:
            args += ["--total-timesteps", str(total_timesteps)]
    else:
        args = ["--resume", str(run_dir), "--wandb-mode", "disabled"]
    print(f"learning: {'resuming' if state else 'training'} {run_dir}", flush=True)
    child = subprocess.Popen(rl_train_command(*args), env=child_env(), cwd=REPO)
    # SIGTERM to this script stops the run as Ctrl-C does (Ctrl-C reaches both already).
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    code = child.wait()
    if code != 0:
        where = ""
        if recorded_state(run_dir) is not None:
            packed_dir.mkdir(parents=True, exist_ok=True)
            rl_train("runs", "pack", str(run_dir), "-o", str(archive))
            where = f" (here, or from {archive} on another checkout)"
        sys.exit(
            f"learning: {run_dir.name} ended with exit code {code}; run again to resume it{where}"
        )
    return True


def evaluate(runs_dir: Path, name: str, which: str, episodes: int) -> dict:
    """`rl-train eval` of the run's `which` checkpoint on its test episodes, kept beside
    the run (keyed by checkpoint step and episodes: done once)."""
    cache = runs_dir / f"{name}.{which}.eval.json"
    if cache.is_file():
        kept = json.loads(cache.read_text())
        if kept["episodes"] == episodes and kept["step"] == checkpoint_step(runs_dir / name, which):
            return kept
    args = ["eval", name, "--checkpoint", which, "--episodes", str(episodes), "--json"]
    result = json.loads(rl_train(*args, "--output-dir", str(runs_dir)))
    cache.write_text(json.dumps(result, indent=1))
    return result


def checkpoint_step(run_dir: Path, which: str) -> int | None:
    if which == "best":
        path = run_dir / "checkpoints" / "best" / "meta.json"
        return json.loads(path.read_text())["step"] if path.is_file() else None
    return json.loads((run_dir / "run.json").read_text())["steps"]


# ---------------------------------------------------------------- what a run learned


def curves(run_dir: Path) -> dict[str, list[tuple[int, float, float]]]:
    """(step, value, training wall seconds) of rollout and validation success, from the
    run's journal; wall time summed over sessions (SB3 counts each from 0)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    found: dict[str, list[tuple[int, float, float]]] = {ROLLOUT: [], VALIDATION: []}
    # The journal is in step order (a resume cuts the rows past its checkpoint first), so
    # the running sum is the training's wall time at each row.
    wall = before = last = 0.0
    for row in rows:
        if ELAPSED in row:
            if row[ELAPSED] < last:  # a new session
                before += last
            last = row[ELAPSED]
            wall = before + last
        for key, curve in found.items():
            if key in row:
                curve.append((row["_step"], row[key], wall))
    return found


def first_reaching(curve: list[tuple[int, float, float]]) -> dict | None:
    for step, value, wall_s in curve:
        if value >= TARGET:
            return {"step": step, "wall_s": wall_s}
    return None


def trained_on(record: dict) -> str:
    """The machines a run trained on, from the step each took over (run.json's machines;
    sessions of an rl-train from before it recorded them are named as such)."""
    machines, parts = record.get("machines", []), []
    unrecorded = record.get("sessions", 0) - len(machines)
    if unrecorded > 0:
        parts.append(f"sessions 1-{unrecorded}: not recorded" if unrecorded > 1 else
                     "session 1: not recorded")  # fmt: skip
    previous = None
    for where in machines:  # consecutive sessions on one machine: named once
        if where["machine"] != previous:
            parts.append(f"{where['machine']} from step {where['from_step']:,}")
            previous = where["machine"]
    if unrecorded <= 0 and len(parts) == 1:
        return machines[0]["machine"]
    return "; ".join(parts)


def seed_result(runs_dir: Path, task: str, seed: int, episodes: int) -> dict:
    name = run_name(task, seed)
    run_dir = runs_dir / name
    record = json.loads((run_dir / "run.json").read_text())
    found = curves(run_dir)
    result = {
        "seed": seed,
        "run": str(run_dir),
        "machine": machine.summary_line(),  # where it was scored
        "trained_on": trained_on(record),
        "steps": record["steps"],
        "state": record["state"],
        "started_at": record["started_at"],
        "ended_at": record.get("ended_at"),
        "wall_s": found[ROLLOUT][-1][2] if found[ROLLOUT] else None,
        "rollout_90": first_reaching(found[ROLLOUT]),
        "validation_90": first_reaching(found[VALIDATION]),
        "curve": found[ROLLOUT],
        "validation_curve": found[VALIDATION],
    }
    if record["state"] == "finished":
        for which in ("latest", "best"):
            scored = evaluate(runs_dir, name, which, episodes)
            wins = round(scored["success_rate"] * scored["episodes"])
            result[which] = {
                "step": scored["step"],
                "successes": wins,
                "episodes": scored["episodes"],
                "success_rate": scored["success_rate"],
                "ci95": list(wilson_interval(wins, scored["episodes"])),
            }
    return result


# ---------------------------------------------------------------- report


def pooled(results: list[dict], which: str) -> dict | None:
    scored = [r[which] for r in results if which in r]
    if not scored:
        return None
    wins, n = sum(s["successes"] for s in scored), sum(s["episodes"] for s in scored)
    return {"seeds": len(scored), "successes": wins, "episodes": n, "success_rate": wins / n,
            "ci95": list(wilson_interval(wins, n))}  # fmt: skip


def earlier_results(base: str, command: str, episodes: int) -> dict[int, dict]:
    """The seeds an earlier report of the same command finished and scored, by seed."""
    try:
        document = json.loads(Path(f"{base}.json").read_text())
    except (OSError, ValueError):
        return {}
    if document.get("command") != command or document.get("episodes") != episodes:
        return {}
    return {r["seed"]: r for r in document["seeds"] if r["state"] == "finished" and "latest" in r}


def report(
    task: str,
    seeds: list[int],
    runs_dir: Path,
    packed_dir: Path,
    episodes: int,
    prefix: Path,
    command: str,
) -> None:
    base = f"{prefix}.{task}"
    earlier = earlier_results(base, command, episodes)
    results = []
    for seed in seeds:
        if (runs_dir / run_name(task, seed) / "run.json").is_file():
            results.append(seed_result(runs_dir, task, seed, episodes))
        elif seed in earlier:
            print(f"learning: {run_name(task, seed)} as the earlier report scored it", flush=True)
            results.append(earlier[seed])
    if not results:
        return
    machines = sorted({r["machine"] for r in results if "machine" in r})
    document = {
        "task": task,
        "command": command,
        "machine": "; ".join(machines) or machine.summary_line(),
        "date": trained_span(results),
        "episodes": episodes,
        "seeds": results,
        "pooled": {which: pooled(results, which) for which in ("latest", "best")},
    }
    write_report(base, markdown(task, document), document)
    plot(task, results, Path(f"{base}.png"))
    print(markdown(task, document))
    for result in results:  # scored in the report: the packed state is not needed any more
        if "latest" in result:
            packed_path(packed_dir, task, result["seed"]).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=200, help="test episodes per policy")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "runs" / "learning")
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "learning")
    parser.add_argument(
        "--packed-dir",
        type=Path,
        default=REPO / "benchmarks" / "learning-packed",
        help="where a stopped run is packed, to be resumed on another checkout (in git)",
    )
    parser.add_argument("--report-only", action="store_true", help="train nothing")
    parser.add_argument(
        "--total-timesteps",
        type=int,
        help="shorter runs than the shipped budget (a check of this script, not a result)",
    )
    args = parser.parse_args()
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    for task in args.tasks:
        # How the runs were made (the same whether this call trained them or reports only).
        command = f"python benchmarks/learning.py --tasks {task} --seeds " + " ".join(
            map(str, args.seeds)
        )
        if args.total_timesteps:
            command += f" --total-timesteps {args.total_timesteps}"
        where = (args.runs_dir, args.packed_dir, args.episodes, args.output_prefix, command)
        trained = False
        if not args.report_only:
            scored = earlier_results(f"{args.output_prefix}.{task}", command, args.episodes)
            for seed in args.seeds:
                if seed in scored and not (args.runs_dir / run_name(task, seed)).exists():
                    continue  # trained and scored on another checkout
                if train(task, seed, args.runs_dir, args.packed_dir, args.total_timesteps):
                    report(task, args.seeds, *where)  # each seed's scores kept when it ends
                    trained = True
        if not trained:
            report(task, args.seeds, *where)
    return 0


if __name__ == "__main__":
    sys.exit(main())
