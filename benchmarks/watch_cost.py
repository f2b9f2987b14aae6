"""What `rl-train runs watch` costs the run it watches: the same job alone, watched in plain
mode (piped) and watched in the live view (a pseudo-terminal), modes interleaved.

Each repeat trains the kinematic reach (`--wandb-mode disabled`, so W&B's own noise stays
out) and, in the watched modes, runs `rl-train runs watch RUN --exit-when-done` beside it
from the moment run.json exists. Reads the trainer's steady steps/s from run.json and the
watcher's CPU time from the kernel (wait4), then writes a Markdown table and JSON under
benchmarks/results/.

    python benchmarks/watch_cost.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from benchlib import machine
from benchlib.command import RESULTS, child_env, rl_train_command
from benchlib.results import write_report

MODES = ("alone", "plain watch", "live watch")


def one_run(mode: str, steps: int, interval: float, root: Path, index: int) -> dict:
    name = f"r{index}"
    out_dir = root / f"runs{index}"
    train = subprocess.Popen(
        rl_train_command(
            "--use-simple-env", "--total-timesteps", str(steps), "--wandb-mode", "disabled",
            "--run-name", name, "--output-dir", str(out_dir), "--checkpoint-freq", "0",
        ),
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    watcher_cpu = watcher_wall = None
    if mode != "alone":
        while not (out_dir / name / "run.json").exists():
            assert train.poll() is None, "the training ended before it wrote run.json"
            time.sleep(0.05)
        argv = rl_train_command(
            "runs", "watch", name, "--exit-when-done", "--interval", str(interval),
            "--output-dir", str(out_dir),
        )  # fmt: skip
        started = time.perf_counter()
        if mode == "plain watch":
            watcher = subprocess.Popen(argv, env=child_env(), stdout=subprocess.DEVNULL)
            master = None
        else:
            master, slave = pty.openpty()
            watcher = subprocess.Popen(
                argv, env=child_env(), stdin=slave, stdout=slave, stderr=slave
            )
            os.close(slave)
            threading.Thread(target=_drain, args=(master,), daemon=True).start()
        _, _, usage = os.wait4(watcher.pid, 0)
        watcher.returncode = 0  # reaped above
        watcher_wall = time.perf_counter() - started
        watcher_cpu = usage.ru_utime + usage.ru_stime
    assert train.wait() == 0, f"the {mode} run failed"
    record = json.loads((out_dir / name / "run.json").read_text())
    return {
        "mode": mode,
        "steady_steps_per_s": record["timings"]["steady_steps_per_s"],
        "watcher_cpu_s": watcher_cpu,
        "watcher_wall_s": watcher_wall,
    }


def _drain(master: int) -> None:
    # A terminal nobody reads would fill and block the live view.
    try:
        while os.read(master, 65536):
            pass
    except OSError:
        pass


def report(document: dict) -> str:
    runs, interval = document["runs"], document["interval"]
    alone = statistics.median(r["steady_steps_per_s"] for r in runs if r["mode"] == "alone")
    rows = []
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        rates = [r["steady_steps_per_s"] for r in mine]
        rate = statistics.median(rates)
        watched = [r for r in mine if r["watcher_cpu_s"] is not None]
        cpu = wall = "-"
        if watched:
            cpu = f"{statistics.median(r['watcher_cpu_s'] for r in watched):.2f} s"
            wall = f"{statistics.median(r['watcher_wall_s'] for r in watched):.1f} s"
        rows.append(
            f"| {mode} | {rate:,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | "
            f"{rate / alone - 1:+.1%} | {cpu} | {wall} |"
        )
    repeats = len(runs) // len(MODES)
    return "\n".join(
        [
            "# What `rl-train runs watch` costs the run it watches",
            "",
            f"`{document['command']}` on {document['machine']}, {document['date']}. The "
            f"kinematic reach, --wandb-mode disabled, {repeats} interleaved repeats per mode; "
            f"medians. The watcher refreshes every {interval:g} s from the moment run.json "
            "exists until the run ends; its CPU time (user + system, from wait4) includes its "
            "own start-up.",
            "",
            "| mode | trainer's steady steps/s | range | against alone | watcher's CPU | "
            "watched for |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=61440)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--output", default="watch_cost")
    parser.add_argument("--report-only", action="store_true", help="re-render the saved JSON")
    args = parser.parse_args()
    if args.report_only:
        document = json.loads((RESULTS / f"{args.output}.json").read_text())
        (RESULTS / f"{args.output}.md").write_text(report(document))
        print(report(document))
        return
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = MODES[repeat % len(MODES) :] + MODES[: repeat % len(MODES)]
            for mode in order:
                runs.append(one_run(mode, args.steps, args.interval, Path(tmp), len(runs)))
                print(json.dumps(runs[-1]), flush=True)
    document = {
        "command": (
            f"python benchmarks/watch_cost.py --repeats {args.repeats} --steps {args.steps} "
            f"--interval {args.interval:g}"
        ),
        "machine": machine.summary_line(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "interval": args.interval,
        "runs": runs,
    }
    write_report(RESULTS / args.output, report(document), document)
    print(report(document))


if __name__ == "__main__":
    main()
