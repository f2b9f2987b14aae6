"""W&B alone in a process: what its start, finish and an idle run cost, without env workers
or training beside it (the trainer's own W&B client, tracking.client)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchlib.command import REPO

IDLE_CODE = """
import json, os, shutil, sys, tempfile, time
from pathlib import Path
import psutil
from rl_train.store.record import new_run_id
from rl_train.tracking import client

def cpu_and_wakeups(pid):
    ns = slices = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, _, runs = f.read().split()
        except OSError:
            continue
        ns, slices = ns + int(run_ns), slices + int(runs)
    return ns, slices

seconds = float(sys.argv[1])
folder = Path(tempfile.mkdtemp(prefix="rl-train-wandb-idle-"))
try:
    tracker = client.start("offline", new_run_id(), folder, "rl-train-logging-modes", None,
                           "idle", {"probe": True})
    time.sleep(3.0)  # past wandb.init's own after-work
    logging_pid = tracker._process.pid
    core_pids = [p.pid for p in psutil.Process(logging_pid).children()]
    before = {pid: cpu_and_wakeups(pid) for pid in [logging_pid, *core_pids]}
    time.sleep(seconds)
    after = {pid: cpu_and_wakeups(pid) for pid in before}
    tracker.finish()
    def rate(pids, field, scale):
        return sum(after[p][field] - before[p][field] for p in pids) / seconds / scale
    print(json.dumps({
        "seconds": seconds,
        "logging_ms_per_s": rate([logging_pid], 0, 1e6),
        "logging_wakeups_per_s": rate([logging_pid], 1, 1),
        "core_ms_per_s": rate(core_pids, 0, 1e6),
        "core_wakeups_per_s": rate(core_pids, 1, 1),
    }))
finally:
    shutil.rmtree(folder, ignore_errors=True)
"""


def probe_wandb_idle(seconds: float, child_env: dict[str, str]) -> dict[str, Any]:
    """What an offline W&B run costs with nothing to log: the CPU and wake-ups of the
    logging process and wandb-core per second (/proc/PID/task/*/schedstat, nanoseconds)."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", IDLE_CODE, str(seconds)],
            cwd=REPO,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=seconds + 120,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return {"error": type(exc).__name__}


PROBE_CODE = """
import json, shutil, tempfile
from pathlib import Path
from rl_train.store.record import new_run_id
from rl_train.tracking import client
folder = Path(tempfile.mkdtemp(prefix="rl-train-wandb-probe-"))
try:
    tracker = client.start("offline", new_run_id(), folder,
                             "rl-train-logging-modes", None, "probe", {"probe": True})
    for step in range(1, 21):
        tracker.log({"a": step, "b": 0.5 * step}, step=step)
    tracker.finish()
    print(json.dumps(tracker.timings()))
finally:
    shutil.rmtree(folder, ignore_errors=True)
"""


def probe_wandb_start(reps: int, child_env: dict[str, str]) -> list[dict[str, Any]]:
    """The trainer's own W&B start (tracking.client.start) and finish, alone in a process:
    what wandb.init costs without 16 env workers starting next to it."""
    results = []
    for _ in range(reps):
        try:
            done = subprocess.run(
                [sys.executable, "-c", PROBE_CODE],
                cwd=REPO,
                env=child_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            results.append({"error": f"{type(exc).__name__}"})
    return results
