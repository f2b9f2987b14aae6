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
import base64
import csv
import json
import os
import platform
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import CONFIDENCE, REPO, RESULTS, child_env, median_ci, rl_train_command

from rl_train.machine import cpu_model, usable_cores

MODES = ("disabled", "offline", "online")
ENVS = {"pybullet": [], "simple": ["--use-simple-env"]}  # the default job first
ENV_NAMES = {"simple": "simple kinematic reach", "pybullet": "PyBullet reach"}
PROFILES = ("default", "heavy")
ROLLOUT_STEPS_PER_ENV = 64  # n_steps of the shipped hyperparameters
MEMORY_POLL_S = 0.5
SERVER_CHECK_TIMEOUT_S = 5.0
TARGETS = {  # issue 7; measured here, never asserted in tests
    "offline_steps_cost": 0.02,
    "online_steps_cost": 0.05,
    "offline_init_s": 0.6,
    "offline_finish_s": 0.5,
}
BYTES_SENT_HOW = (
    "bytes wandb-core sent to the server (HTTP requests incl. headers and file uploads), "
    "counted by a TCP proxy on loopback that this benchmark puts in front of "
    "WANDB_BASE_URL; the responses are `bytes_received` in the CSV; uploads to other "
    "hosts (e.g. signed cloud-storage URLs of a cloud server) are not seen"
)
MEMORY_HOW = (
    f"peak over {MEMORY_POLL_S:g} s psutil polls of the summed RSS of the rl-train process "
    "tree (trainer, env workers, wandb-core); shared pages count once per process"
)


def _reexec_in_project_venv() -> None:
    """`python benchmarks/logging_modes.py` from a plain python: use .venv's instead."""
    try:
        import psutil  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        venv_python = REPO / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (REPO / ".venv").resolve()
        if venv_python.exists() and not in_venv:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        sys.exit("logging_modes.py: needs the project's packages; run `make setup` first")


# --------------------------------------------------------------------------- statistics


def median_min_max(values: list[float]) -> tuple[float, float, float] | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


METRICS = (
    # key, column title, unit kind, show ratio to disabled
    ("startup_s", "startup (s)", "s", True),
    ("wandb_init_s", "wandb.init (s)", "s", False),
    ("wandb_wait_s", "start-up blocked on W&B (s)", "s", False),
    ("steady_steps_per_s", "steps/s (steady)", "rate", True),
    ("steady_main_cpu_ms_per_1k_steps", "trainer CPU ms / 1k steps (steady)", "us", True),
    ("cpu_ms_per_1k_steps", "CPU ms / 1k steps (all processes, whole run)", "us", True),
    ("steady_cost_bound", "W&B's steady-state cost, at most", "pct", False),
    ("steady_wandb_share", "W&B processes' CPU / steady wall", "pct", False),
    ("steady_log_share", "trainer's W&B code / steady wall", "pct", False),
    ("steady_wandb_switches_per_s", "W&B wake-ups /s (steady)", "rate", False),
    ("steady_server_share", "loopback server CPU / steady wall", "pct", False),
    ("trainer_wandb_cpu_share", "trainer's W&B CPU / its steady CPU", "pct", False),
    ("wandb_core_cpu_s", "wandb-core CPU (s)", "s", False),
    ("logging_process_cpu_s", "logging process CPU (s)", "s", False),
    ("log_call_us", "one log call (µs)", "us", False),
    ("log_process_us", "run.log in the logging process (µs)", "us", False),
    ("server_cpu_s", "loopback server CPU (s)", "s", False),
    ("values_per_s", "values logged /s", "rate", False),
    ("wandb_finish_s", "finish (s)", "s", False),
    ("bytes_written", "bytes written", "bytes", True),
    ("run_dir_bytes", "storage: run dir", "bytes", True),
    ("bytes_sent", "network: sent", "bytes", False),
    ("peak_rss_bytes", "peak memory", "bytes", True),
)


def summarize(runs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (env, profile): per mode, each metric's (median, min, max) and the ratio of
    its median to disabled's median. Failed runs are left out; a mode without a
    successful run keeps the reason it is unavailable."""
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        block = table.setdefault((run["env"], run["profile"]), {})
        entry = block.setdefault(run["mode"], {"runs": [], "unavailable": None})
        if run.get("status") == "ok":
            entry["runs"].append(run)
        elif run.get("status") == "unavailable":
            entry["unavailable"] = run.get("reason", "unavailable")
        else:
            entry.setdefault("failed", []).append(run.get("reason", "failed"))
    for block in table.values():
        for entry in block.values():
            entry["stats"] = {
                key: median_min_max([r.get(key) for r in entry["runs"]]) for key, *_ in METRICS
            }
        base = block.get("disabled", {}).get("stats", {})
        for entry in block.values():
            entry["ratios"] = {}
            for key, *_ in METRICS:
                mine, ref = entry["stats"].get(key), base.get(key)
                if mine is not None and ref is not None and ref[0]:
                    entry["ratios"][key] = mine[0] / ref[0]
        disabled_runs = block.get("disabled", {}).get("runs", [])
        for entry in block.values():
            entry["paired"] = {
                key: paired_ratio(entry["runs"], disabled_runs, key) for key in PAIRED
            }
            entry["paired_s"] = {
                key: paired_difference(entry["runs"], disabled_runs, key)
                for key in ("startup_s", "wall_s")
            }
    return table


PAIRED = ("steady_steps_per_s", "steady_main_cpu_ms_per_1k_steps")


def paired_ratio(
    runs: list[dict[str, Any]], disabled_runs: list[dict[str, Any]], key: str
) -> tuple[float, float, float, int, tuple[float, float] | None] | None:
    """(median, min, max, n, 95% interval of the median) of each run's value over
    disabled's in the same repetition.

    The VM's speed drifts by up to +-9% between repetitions (measured); a run and its
    neighbour of the same repetition see nearly the same machine, so their ratio carries
    far less of that drift than the ratio of two medians does. Runs that know their place
    in the sequence ("order") are compared with disabled's at the same moment instead:
    interpolated between the disabled runs just before and just after (drift_reference).
    """
    ratios = [value / ref for value, ref in _pairs(runs, disabled_runs, key) if ref]
    if not ratios:
        return None
    return statistics.median(ratios), min(ratios), max(ratios), len(ratios), median_ci(ratios)


def _pairs(
    runs: list[dict[str, Any]], disabled_runs: list[dict[str, Any]], key: str
) -> list[tuple[float, float | None]]:
    """(each run's value, disabled's to compare it with) for the runs that have the value:
    disabled's at the same moment when every run knows its order, else its repetition's."""
    if all("order" in run for run in [*runs, *disabled_runs]):
        pairs = [(run.get(key), drift_reference(run, disabled_runs, key)) for run in runs]
    else:
        reference = {run.get("rep"): run.get(key) for run in disabled_runs}
        pairs = [(run.get(key), reference.get(run.get("rep"))) for run in runs]
    return [(value, ref) for value, ref in pairs if value is not None]


def drift_reference(
    run: dict[str, Any], disabled_runs: list[dict[str, Any]], key: str
) -> float | None:
    """Disabled's value at `run`'s place in the sequence: linear between the disabled runs
    just before and just after it (one side only at the ends). With three modes rotating
    (A B C, B C A, C A B) a mode follows disabled in two repetitions of three, so pairing
    within a repetition gives a machine that speeds up or slows down over the minutes a
    direction; interpolating in time cancels a steady drift whatever the order."""
    known = sorted((r["order"], r[key]) for r in disabled_runs if r.get(key) is not None)
    before = [(o, v) for o, v in known if o < run["order"]]
    after = [(o, v) for o, v in known if o > run["order"]]
    if before and after:
        (o1, v1), (o2, v2) = before[-1], after[0]
        return v1 + (v2 - v1) * (run["order"] - o1) / (o2 - o1)
    if before or after:
        return (before[-1] if before else after[0])[1]
    return None


def paired_difference(
    runs: list[dict[str, Any]], disabled_runs: list[dict[str, Any]], key: str
) -> tuple[float, int] | None:
    """(median, n) of each run's value minus disabled's (paired as paired_ratio): seconds."""
    pairs = _pairs(runs, disabled_runs, key)
    differences = [value - ref for value, ref in pairs if ref is not None]
    return (statistics.median(differences), len(differences)) if differences else None


def _fmt_value(value: float, kind: str) -> str:
    if kind == "s":
        return f"{value:.2f}"
    if kind == "us":
        return f"{value:,.0f}"
    if kind == "rate":
        return f"{value:,.0f}"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "ratio":
        return f"{value:.3f}"
    if kind == "bytes":
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    return f"{value:g}"


def format_cell(stats: tuple[float, float, float] | None, kind: str, ratio: float | None) -> str:
    if stats is None:
        return "–"
    median, low, high = stats
    text = _fmt_value(median, kind)
    if low != high:
        text += f" ({_fmt_value(low, kind)}–{_fmt_value(high, kind)})"
    if ratio is not None:
        text += f" ×{ratio:.3f}" if kind in ("rate", "ratio") else f" ×{ratio:.2f}"
    return text


def markdown_tables(table: dict[tuple[str, str], dict[str, Any]]) -> str:
    """One table per (env, profile), rows disabled/offline/online, cells 'median
    (min–max) ×ratio to disabled'."""
    out = []
    header = ["mode"] + [title for _, title, _, _ in METRICS]
    for (env, profile), block in sorted(table.items(), key=_block_order):
        out.append(f"**{ENV_NAMES.get(env, env)}, {profile} profile**\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for mode in sorted(block, key=_mode_order):
            entry = block[mode]
            if not entry["runs"]:
                reason = entry["unavailable"] or "; ".join(entry.get("failed", [])) or "no runs"
                out.append(f"| {mode} | unavailable: {reason} |" + " |" * (len(header) - 2))
                continue
            cells = [f"{mode} (n={len(entry['runs'])})"]
            for key, _, kind, with_ratio in METRICS:
                ratio = entry["ratios"].get(key) if with_ratio and mode != "disabled" else None
                cells.append(format_cell(entry["stats"][key], kind, ratio))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def issue_shaped_table(table: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The README's mode table (mode | startup | logging speed | network | storage), one
    row per mode and env/profile, medians with each mode's ratio to disabled."""

    def cell(entry: dict[str, Any], key: str, kind: str, ratio: bool = True, unit: str = "") -> str:
        stats = entry["stats"].get(key)
        if stats is None:
            return "–"
        text = _fmt_value(stats[0], kind) + unit
        factor = entry["ratios"].get(key) if ratio else None
        if factor is not None:
            text += f" (×{factor:.3f})" if kind == "rate" else f" (×{factor:.2f})"
        return text

    out = [
        "| mode | env, profile | startup | logging speed | network | storage |",
        "|---|---|---|---|---|---|",
    ]
    for (env, profile), block in sorted(table.items(), key=_block_order):
        for mode in sorted(block, key=_mode_order):
            entry = block[mode]
            where = f"{env}, {profile}"
            if not entry["runs"]:
                reason = entry["unavailable"] or "; ".join(entry.get("failed", [])) or "no runs"
                out.append(f"| {mode} | {where} | unavailable: {reason} | | | |")
                continue
            disabled = mode == "disabled"
            startup = cell(entry, "startup_s", "s", not disabled, " s")
            if not disabled:
                startup += (
                    f"; wandb.init {cell(entry, 'wandb_init_s', 's', False)} s, "
                    f"blocked {cell(entry, 'wandb_wait_s', 's', False)} s; "
                    f"finish {cell(entry, 'wandb_finish_s', 's', False)} s"
                )
            speed = cell(entry, "steady_steps_per_s", "rate", not disabled, " steps/s")
            if not disabled:
                speed += f"; log call {cell(entry, 'log_call_us', 'us', False)} µs"
            network = "none"
            if mode == "online":
                network = f"{cell(entry, 'bytes_sent', 'bytes', False)} sent"
                known = [r["upload_complete"] for r in entry["runs"] if "upload_complete" in r]
                if known:
                    network += f"; all uploaded in {sum(known)}/{len(known)} runs"
            storage = cell(entry, "run_dir_bytes", "bytes", not disabled, " local")
            if mode == "online":
                storage += " + server"
            out.append(f"| {mode} | {where} | {startup} | {speed} | {network} | {storage} |")
    return "\n".join(out) + "\n"


HEADLINE = (("pybullet", "default"), ("simple", "default"))  # the job users run first
TRAINER_CPU_TARGET = 0.02  # trainer CPU per step, offline within 2% of disabled's


def _interval(paired: tuple, as_cost: bool) -> str:
    interval = paired[4]
    if interval is None:
        return f"no {CONFIDENCE:.0%} interval (n={paired[3]}: 6 or more repetitions needed)"
    low, high = (
        (1 - interval[1], 1 - interval[0]) if as_cost else (interval[0] - 1, interval[1] - 1)
    )
    return f"{CONFIDENCE:.0%} interval {low:+.1%} to {high:+.1%} (width {high - low:.1%})"


def verdict(paired: tuple, limit: float) -> str:
    """met: the whole interval of the cost is within the limit; not shown: the median is,
    the interval is not; NOT met: the median is past it."""
    cost = 1.0 - paired[0]
    if cost > limit:
        return "NOT met"
    if paired[4] is None or 1.0 - paired[4][0] > limit:
        return "median within it, not shown: the interval reaches past it"
    return "met"


def steady_cost_line(mode: str, where: str, entry: dict[str, Any], limit: float) -> str:
    steps = entry["paired"].get("steady_steps_per_s")
    if steps is None:
        return f"- {mode}, {where}: {entry.get('unavailable') or 'not measured'}"
    line = (
        f"- {mode}, {where}: steady-state steps/s cost {1 - steps[0]:+.1%} (median over "
        f"{steps[3]} repetitions of each run's cost against disabled's at the same point "
        "of the sequence; "
        f"{_interval(steps, as_cost=True)}; range {1 - steps[2]:+.1%} to {1 - steps[1]:+.1%}) "
        f"(target ≤ {limit:.0%}): {verdict(steps, limit)}"
    )
    cpu = entry["paired"].get("steady_main_cpu_ms_per_1k_steps")
    if cpu is not None:
        within = "within" if abs(cpu[0] - 1) <= TRAINER_CPU_TARGET else "NOT within"
        line += (
            f"; trainer CPU per 1k steps (steady) {cpu[0] - 1:+.1%}, "
            f"{_interval(cpu, as_cost=False)}: {within} {TRAINER_CPU_TARGET:.0%}"
        )
    startup, wall = entry["paired_s"].get("startup_s"), entry["paired_s"].get("wall_s")
    if startup is not None and wall is not None:
        line += (
            f"; paid once per run: start-up {startup[0]:+.2f} s (process start to the first "
            f"env step), whole run {wall[0]:+.2f} s (start-up, steady state and finish)"
        )
    return line


def _judged(values: list[float], limit: float) -> tuple[float, str, str]:
    """(median, its 95% interval as text, verdict): met only when the whole interval is
    within the limit."""
    median, interval = statistics.median(values), median_ci(values)
    if median > limit:
        verdict_ = "NOT met"
    elif interval is None or interval[1] > limit:
        verdict_ = "median within it, not shown: the interval reaches past it"
    else:
        verdict_ = "met"
    span = (
        f"{CONFIDENCE:.0%} interval {interval[0]:.2%} to {interval[1]:.2%}"
        if interval
        else f"no {CONFIDENCE:.0%} interval (n={len(values)}: 6 or more runs needed)"
    )
    return median, span, verdict_


def bound_line(mode: str, where: str, entry: dict[str, Any], limit: float) -> str | None:
    """The steady-state cost as CPU accounting bounds it (steady_accounting), with the 95%
    interval of its median over the runs (online: with the loopback server's CPU, which
    shares the cores here), and the trainer's CPU against the env workers'."""
    runs = [r for r in entry["runs"] if r.get("steady_cost_bound")]
    if not runs:
        return None
    median, span, verdict_ = _judged([r["steady_cost_bound"] for r in runs], limit)
    shares = {
        key: statistics.median([r.get(key) or 0.0 for r in runs])
        for key in ("steady_wandb_share", "steady_log_share", "steady_server_share")
    }
    switches = statistics.median([r.get("steady_wandb_switches_per_s") or 0.0 for r in runs])
    # What each of W&B's wake-ups would have to cost the process it displaces
    # (cache refill) before the cost reached the target: the bound's headroom per switch.
    headroom_us = (limit - median) / switches * 1e6 if switches > 0 and median < limit else None
    # Runs from before the trainer's W&B code was timed whole have its log calls only.
    trainer_part = "W&B code" if all("wandb_trainer_s" in r for r in runs) else "log calls"
    line = (
        f"- {mode}, {where}: steady-state cost by CPU accounting, at most {median:.2%} of the "
        f"steady wall time (median over {len(runs)} runs; {span}) = W&B's processes' CPU "
        f"{shares['steady_wandb_share']:.2%} + the trainer's {trainer_part} "
        f"{shares['steady_log_share']:.2%}; each CPU-second W&B takes delays training by at "
        f"most that second (target ≤ {limit:.0%}): {verdict_}. W&B's processes woke "
        f"{switches:,.0f} times/s"
    )
    if headroom_us is not None:
        line += (
            f": each wake-up could cost the process it displaces {headroom_us:,.0f} µs "
            "(cache refill) before the target was reached"
        )
    if mode == "online" and shares["steady_server_share"]:
        total, span, verdict_ = _judged(
            [r["steady_cost_bound"] + (r.get("steady_server_share") or 0.0) for r in runs], limit
        )
        line += (
            f". With the loopback server's CPU ({shares['steady_server_share']:.2%}; a real "
            f"server runs on another machine), at most {total:.2%} ({span}): {verdict_}"
        )
    trainer_shares = [
        r["trainer_wandb_cpu_share"] for r in runs if r.get("trainer_wandb_cpu_share")
    ]
    if trainer_shares:
        median, span, verdict_ = _judged(trainer_shares, TRAINER_CPU_TARGET)
        line += (
            f". The trainer's own W&B work (rows and files, timed in the run, all of it) took "
            f"{median:.2%} of its CPU in the steady state ({span}): its CPU per step is at "
            f"most that above disabled's (target ≤ {TRAINER_CPU_TARGET:.0%}): {verdict_}"
        )
    return line


def target_lines(
    table: dict[tuple[str, str], dict[str, Any]],
    probe: list[dict[str, Any]] | None = None,
    idle: dict[str, Any] | None = None,
    host: dict[str, Any] | None = None,
) -> list[str]:
    lines = []
    blocks = [key for key in HEADLINE if key in table]
    for env, profile in blocks:
        block, where = table[(env, profile)], f"{ENV_NAMES.get(env, env)}, {profile} profile"
        for mode, limit in (("offline", "offline_steps_cost"), ("online", "online_steps_cost")):
            if mode in block:
                if block.get("disabled", {}).get("runs"):  # else nothing to pair with
                    lines.append(steady_cost_line(mode, where, block[mode], TARGETS[limit]))
                bound = bound_line(mode, where, block[mode], TARGETS[limit])
                if bound:
                    lines.append(bound)
    if idle and "error" not in idle:
        lines.append(
            f"- W&B idle in offline mode (a started run, nothing logged, {idle['seconds']:.0f} s; "
            f"/proc schedstat): logging process {idle['logging_ms_per_s']:.2f} ms CPU/s "
            f"({idle['logging_wakeups_per_s']:.0f} wake-ups/s), wandb-core "
            f"{idle['core_ms_per_s']:.2f} ms CPU/s ({idle['core_wakeups_per_s']:.0f} wake-ups/s): "
            f"{(idle['logging_ms_per_s'] + idle['core_ms_per_s']) / 10:.2f}% of one core"
        )
    if host:
        lines.append(
            f"- host speed while measuring: a fixed {host['loop']:,}-iteration Python loop took "
            f"{host['min_s']:.3f}–{host['max_s']:.3f} s CPU (median {host['median_s']:.3f} s) over "
            f"{host['samples']} tries {host['every_s']:g} s apart: the machine's own speed varies "
            f"by ×{host['max_s'] / host['min_s']:.2f}, which is what the intervals above carry"
        )
    offline = table.get(blocks[0], {}).get("offline", {}).get("stats", {}) if blocks else {}
    init, wait = offline.get("wandb_init_s"), offline.get("wandb_wait_s")
    probe_init = median_min_max([p.get("wandb_init_s") for p in probe or []])
    probe_import = median_min_max([p.get("wandb_import_s") for p in probe or []])
    if probe_init is not None:
        verdict_ = "met" if probe_init[0] <= TARGETS["offline_init_s"] else "NOT met"
        lines.append(
            f"- offline wandb.init, alone (probe: tracking.client.start, no env workers, "
            f"n={len(probe or [])}): median {probe_init[0]:.2f} s, max {probe_init[2]:.2f} s "
            f"(+ import wandb {probe_import[0]:.2f} s) "
            f"(target ≤ {TARGETS['offline_init_s']} s): {verdict_}"
        )
    if init is not None and wait is not None:
        verdict_ = "met" if wait[0] <= TARGETS["offline_init_s"] else "NOT met"
        lines.append(
            f"- offline W&B start-up in the training runs: wandb.init takes {init[0]:.2f} s "
            f"(median) in rl-train's logging process, overlapped with the trainer's imports "
            f"and env start-up; the trainer waited {wait[0]:.2f} s (max {wait[2]:.2f} s) for "
            f"it: the start-up cost (≤ {TARGETS['offline_init_s']} s): {verdict_}"
        )
    finish = offline.get("wandb_finish_s")
    if finish is not None:
        verdict_ = "met" if finish[0] <= TARGETS["offline_finish_s"] else "NOT met"
        lines.append(
            f"- offline finish (run.finish in the training runs): median {finish[0]:.2f} s, "
            f"max {finish[2]:.2f} s (target ≤ {TARGETS['offline_finish_s']} s): {verdict_}"
        )
    return lines


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


HOST_LOOP = 3_000_000


def host_speed(samples: int = 10, every_s: float = 2.0) -> dict[str, Any]:
    """The CPU time of a fixed Python loop, a few times: how much the machine's own
    speed moves (a shared VM's does), which no pairing of runs removes."""
    times = []
    for index in range(samples):
        started, total = time.process_time(), 0
        for i in range(HOST_LOOP):
            total += i * i
        times.append(time.process_time() - started)
        if index + 1 < samples:
            time.sleep(every_s)
    return {
        "loop": HOST_LOOP,
        "samples": samples,
        "every_s": every_s,
        "min_s": min(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
    }


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


def _block_order(item: tuple[tuple[str, str], Any]) -> tuple[int, int]:
    (env, profile), _ = item
    env_rank = list(ENVS).index(env) if env in ENVS else 99
    return env_rank, PROFILES.index(profile) if profile in PROFILES else 99


def _mode_order(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else 99


# ------------------------------------------------------------------------ online server


class Link:
    """One direction of a slow link: a bandwidth every connection shares (each chunk waits
    its turn on the wire) plus a fixed one-way delay."""

    def __init__(self, bandwidth_kbps: float, delay_s: float) -> None:
        self.bytes_per_s = bandwidth_kbps * 1000 / 8 if bandwidth_kbps > 0 else 0.0
        self.delay_s = delay_s
        self._free_at = 0.0
        self._lock = threading.Lock()

    def wait(self, size: int) -> None:
        if self.bytes_per_s:
            with self._lock:
                start = max(time.monotonic(), self._free_at)
                self._free_at = start + size / self.bytes_per_s
                done = self._free_at
            time.sleep(max(0.0, done - time.monotonic()))
        if self.delay_s:
            time.sleep(self.delay_s)


class CountingProxy:
    """A loopback TCP proxy in front of an http server that counts the bytes each way;
    with latency_ms / bandwidth_kbps it is also a slow link: half the round-trip latency
    each way, and each direction capped to the bandwidth."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        latency_ms: float = 0.0,
        bandwidth_kbps: float = 0.0,
    ) -> None:
        self.target = (target_host, target_port)
        self.sent = 0  # client -> server
        self.received = 0  # server -> client
        self.shaped = latency_ms > 0 or bandwidth_kbps > 0
        self._links = {
            outgoing: Link(bandwidth_kbps, latency_ms / 2000) for outgoing in (True, False)
        }
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def reset(self) -> tuple[int, int]:
        with self._lock:
            counts = (self.sent, self.received)
            self.sent = self.received = 0
        return counts

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for src, dst, outgoing in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(src, dst, outgoing), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outgoing: bool) -> None:
        link = self._links[outgoing]
        # Small chunks on a slow link, so the delay and the cap apply as the bytes flow.
        chunk = 4096 if self.shaped else 65536
        try:
            while True:
                data = src.recv(chunk)
                if not data:
                    break
                if self.shaped:
                    link.wait(len(data))
                dst.sendall(data)
                with self._lock:
                    if outgoing:
                        self.sent += len(data)
                    else:
                        self.received += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def local_server_process(host: str, port: int) -> Any:
    """The process listening on a loopback server's port (to read its CPU time), or None."""
    import psutil

    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return psutil.Process(conn.pid) if conn.pid else None
    except (psutil.Error, OSError):
        return None
    return None


def _cpu_seconds(process: Any) -> float | None:
    try:
        times = process.cpu_times()
        return times.user + times.system
    except Exception:
        return None


def check_online(base_url: str, api_key: str) -> str | None:
    """None if a W&B-protocol server answers and accepts the key, else why not.
    Bounded: two requests of at most SERVER_CHECK_TIMEOUT_S each."""
    if not base_url:
        return "no server configured (set WANDB_BASE_URL and WANDB_API_KEY, or --server-url)"
    if not api_key:
        return f"no API key for {base_url} (set WANDB_API_KEY or pass --api-key)"
    try:
        urllib.request.urlopen(base_url, timeout=SERVER_CHECK_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        pass  # it answered
    except (urllib.error.URLError, OSError) as exc:
        return f"server {base_url} not reachable ({getattr(exc, 'reason', exc)})"
    token = base64.b64encode(f"api:{api_key}".encode()).decode()
    request = urllib.request.Request(
        base_url.rstrip("/") + "/graphql",
        data=json.dumps({"query": "query { viewer { id } }"}).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=SERVER_CHECK_TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"server {base_url} rejected the API key (HTTP {exc.code})"
        return f"server {base_url} answered /graphql with HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"server {base_url} did not answer a W&B query ({getattr(exc, 'reason', exc)})"
    if not (body.get("data") or {}).get("viewer"):
        return f"server {base_url} did not accept the API key (no viewer)"
    return None


# ----------------------------------------------------------------------------- one run


@dataclass
class RunSpec:
    env: str
    profile: str
    mode: str
    rep: int
    total_timesteps: int
    checkpoint_freq: int | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.env}-{self.profile}-{self.mode}-r{self.rep}"


def cli_args(spec: RunSpec, args: argparse.Namespace, output_dir: Path) -> list[str]:
    cli = [
        *ENVS[spec.env],
        "--n-envs", str(args.n_envs),
        *(["--vec-env", args.vec_env] if args.vec_env else []),
        "--seed", str(args.seed),
        "--total-timesteps", str(spec.total_timesteps),
        "--wandb-mode", spec.mode,
        "--log-profile", spec.profile,
        "--output-dir", str(output_dir),
        "--run-name", spec.name,
        "--wandb-project", "rl-train-logging-modes",
    ]  # fmt: skip
    if spec.checkpoint_freq is not None:
        cli += ["--checkpoint-freq", str(spec.checkpoint_freq)]
    if getattr(args, "wandb_finish_timeout", None):
        cli += ["--wandb-finish-timeout", str(args.wandb_finish_timeout)]
    return cli + spec.extra


def link_description(args: argparse.Namespace) -> str | None:
    """The slow link the proxy makes, or None for plain loopback."""
    if not getattr(args, "latency_ms", 0) and not getattr(args, "bandwidth_kbps", 0):
        return None
    parts = []
    if args.latency_ms:
        parts.append(f"{args.latency_ms:g} ms round-trip latency added")
    if args.bandwidth_kbps:
        parts.append(f"{args.bandwidth_kbps:g} kbit/s each way")
    return ", ".join(parts) + " (the benchmark's loopback proxy)"


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_rss(processes: list[Any]) -> int:
    import psutil

    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return total


def timeslices(pid: int) -> int:
    """Times the process's threads were put on a CPU (/proc/PID/task/*/schedstat): one per
    wake-up or preemption, each of which displaces whatever ran there."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[2])
        except (OSError, IndexError, ValueError):
            continue
    return total


class CpuTimeline:
    """Cumulative CPU seconds (and times put on a CPU) of each kind of process of a run,
    sampled with the memory polls, so that what each kind used over any span (the steady
    state's, from run.json) can be read off afterwards, linear between samples.

    Why: the wall-clock cost of W&B on this VM cannot be told from the machine's own speed,
    which moves by a third within seconds (docs/logging-modes.md). CPU seconds of two
    processes over the same seconds can: both see the same machine."""

    KINDS = ("trainer", "workers", "logging", "core", "server")

    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, float], dict[str, int]]] = []
        self._last: dict[int, tuple[str, float, int]] = {}  # pid -> kind, CPU s, switches

    @staticmethod
    def kind(process: Any, root_pid: int) -> str:
        if process.pid == root_pid:
            return "trainer"
        if process.name().startswith("wandb-core"):
            return "core"
        if "rl_train.tracking.process" in process.cmdline():
            return "logging"
        return "workers"  # the env workers, their forkserver, multiprocessing's tracker

    def sample(self, processes: list[Any], root_pid: int, server: Any = None) -> None:
        import psutil

        for process, kind in [
            *((p, None) for p in processes),
            *([(server, "server")] if server is not None else []),
        ]:
            try:
                times = process.cpu_times()
                if kind is None:
                    known = self._last.get(process.pid)
                    kind = known[0] if known else self.kind(process, root_pid)
            except psutil.Error:
                continue
            cpu = times.user + times.system
            self._last[process.pid] = (kind, cpu, timeslices(process.pid))
        cpu_by_kind = dict.fromkeys(self.KINDS, 0.0)
        switches_by_kind = dict.fromkeys(self.KINDS, 0)
        for kind, cpu, switches in self._last.values():
            cpu_by_kind[kind] += cpu
            switches_by_kind[kind] += switches
        self.samples.append((time.time(), cpu_by_kind, switches_by_kind))

    def total(self, kind: str) -> float | None:
        """CPU seconds of that kind over the whole run, as last seen; None if none ran."""
        if not any(k == kind for k, _, _ in self._last.values()):
            return None
        return self.samples[-1][1][kind]

    def _at(self, when: float, index: int, kind: str) -> float:
        times = [sample[0] for sample in self.samples]
        after = next(i for i, t in enumerate(times) if t >= when)
        if after == 0:
            return float(self.samples[0][index][kind])
        (t1, *v1), (t2, *v2) = self.samples[after - 1], self.samples[after]
        a, b = v1[index - 1][kind], v2[index - 1][kind]
        return a + (b - a) * (when - t1) / (t2 - t1)

    def over(self, start: float, end: float) -> dict[str, float] | None:
        """CPU seconds of each kind, and "<kind>_switches" (timeslices), between two epoch
        times; None unless samples lie on both sides of the span."""
        if len(self.samples) < 2 or not self.samples[0][0] <= start < end <= self.samples[-1][0]:
            return None
        spans: dict[str, float] = {}
        for kind in self.KINDS:
            spans[kind] = self._at(end, 1, kind) - self._at(start, 1, kind)
            spans[f"{kind}_switches"] = self._at(end, 2, kind) - self._at(start, 2, kind)
        return spans


def steady_accounting(
    result: dict[str, Any], timeline: CpuTimeline, mode: str
) -> dict[str, float | None]:
    """What W&B takes from the steady state, in shares of its wall time, from CPU seconds
    over exactly that span (host-independent; see CpuTimeline):

    - steady_wandb_share: the logging process's and wandb-core's CPU. On a machine whose
      cores are all busy, each CPU-second W&B's processes take delays training by at most
      that second (at most: while one core runs W&B, the other goes on), so this bounds
      the wall-clock cost of W&B's processes.
    - steady_log_share: the trainer's own W&B work, rows and files (all of the run's).
    - steady_cost_bound: the two together: what offline W&B can cost a long run at most.
    - steady_server_share: a loopback server's CPU (online; a real server runs elsewhere).
    - trainer_wandb_cpu_share: the trainer's CPU in rl-train's W&B code (rows, files; the
      whole run's, timed in the run) over its CPU in the steady state: W&B adds at most that
      to the trainer's CPU per step, code paths being otherwise the same in every mode."""
    start, end = result.get("steady_started_at"), result.get("steady_ended_at")
    spans = timeline.over(start, end) if start and end else None
    if spans is None:
        return {}
    wall = end - start
    out: dict[str, float | None] = {"steady_wall_s": wall}
    if mode == "disabled":
        return out
    wandb_cpu = spans["logging"] + spans["core"]
    out["steady_wandb_cpu_s"] = wandb_cpu
    out["steady_wandb_share"] = wandb_cpu / wall
    out["steady_wandb_switches_per_s"] = (spans["logging_switches"] + spans["core_switches"]) / wall
    # The trainer's W&B code, timed (rows and files); runs from before it was timed
    # have only their log calls.
    trainer_s = result.get("wandb_trainer_s", result.get("log_seconds")) or 0.0
    out["steady_log_share"] = trainer_s / wall
    trainer_cpu = result.get("steady_main_cpu_s")
    if result.get("wandb_trainer_cpu_s") is not None and trainer_cpu:
        out["trainer_wandb_cpu_share"] = result["wandb_trainer_cpu_s"] / trainer_cpu
    out["steady_cost_bound"] = out["steady_wandb_share"] + out["steady_log_share"]
    if mode == "online":
        out["steady_server_share"] = spans["server"] / wall
    return out


def _kill_tree(pid: int) -> None:
    import psutil

    for process in reversed(_tree(pid)):
        try:
            process.kill()
        except psutil.Error:
            pass


def dir_bytes(path: Path) -> int:
    """Bytes of the files under path, each inode once (W&B's files dir hard-links our
    checkpoints and code snapshot: they take no extra space)."""
    total, seen = 0, set()
    for item in path.rglob("*"):
        try:
            info = item.lstat()
        except OSError:
            continue
        if item.is_file() and not item.is_symlink() and (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_size
    return total


def run_one(
    spec: RunSpec,
    args: argparse.Namespace,
    work_dir: Path,
    child_env: dict[str, str],
    proxy: CountingProxy | None,
    server: Any = None,
) -> dict[str, Any]:
    output_dir = work_dir / "runs"
    command = rl_train_command(*cli_args(spec, args, output_dir))
    result: dict[str, Any] = {
        "env": spec.env,
        "profile": spec.profile,
        "mode": spec.mode,
        "rep": spec.rep,
        "total_timesteps": spec.total_timesteps,
        "command": shlex.join(command),
    }
    if proxy is not None:
        proxy.reset()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_before = _cpu_seconds(server) if server is not None else None
    log_path = work_dir / f"{spec.name}.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
        peak_rss, deadline = 0, started + args.run_timeout
        timeline = CpuTimeline()
        while process.poll() is None:
            tree = _tree(process.pid)
            peak_rss = max(peak_rss, _tree_rss(tree))
            timeline.sample(tree, process.pid, server)
            if time.perf_counter() > deadline:
                _kill_tree(process.pid)
                process.wait()
                break
            time.sleep(MEMORY_POLL_S)
    wall_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(wall_s=wall_s, exit_code=process.returncode, peak_rss_bytes=peak_rss)
    # CPU seconds of the reaped process tree: far less sensitive to other load on the
    # machine than wall-clock rates, so it shows what W&B adds even on a busy machine.
    result["cpu_s"] = (usage.ru_utime + usage.ru_stime) - (
        usage_before.ru_utime + usage_before.ru_stime
    )
    result["wandb_core_cpu_s"] = timeline.total("core")
    result["logging_process_cpu_s"] = timeline.total("logging")
    if server_cpu_before is not None:
        # A loopback server shares the cores with training: its work is part of the cost.
        server_cpu = _cpu_seconds(server)
        result["server_cpu_s"] = server_cpu - server_cpu_before if server_cpu else None
    # Blocks written by the reaped process tree (trainer, env workers): every file
    # write, including checkpoints that were pruned later.
    result["bytes_written"] = (usage.ru_oublock - usage_before.ru_oublock) * 512
    if proxy is not None:
        result["bytes_sent"], result["bytes_received"] = proxy.reset()
    run_dir = output_dir / spec.name
    if wall_s >= args.run_timeout:
        result.update(status="failed", reason=f"timed out after {args.run_timeout:.0f} s")
    elif process.returncode != 0 or not (run_dir / "run.json").exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        result.update(status="failed", reason=f"exit {process.returncode}: {tail[0][:200]}")
    else:
        result["status"] = "ok"
        record = json.loads((run_dir / "run.json").read_text())
        timings = record.get("timings", {})
        result.update(timings)
        calls = timings.get("log_calls") or 0
        result["log_call_us"] = timings["log_seconds"] / calls * 1e6 if calls else None
        process_s = timings.get("log_process_seconds")
        result["log_process_us"] = process_s / calls * 1e6 if calls and process_s else None
        learn_s = (timings.get("rollout_s_total") or 0) + (timings.get("update_s_total") or 0)
        values = timings.get("values_logged") or 0
        result["values_per_s"] = values / learn_s if learn_s > 0 and values else None
        if spec.mode == "disabled":
            for key in ("wandb_init_s", "wandb_wait_s", "wandb_finish_s", "wandb_import_s"):
                result[key] = None  # no W&B run: nothing to time
        uploads = list(record.get("uploads", {}).values())
        if spec.mode == "online":
            # Did the server get it all within the finish bound (store/upload.py)?
            result["upload_complete"] = bool(uploads) and all(u["complete"] for u in uploads)
        result["run_dir_bytes"] = dir_bytes(run_dir)
        result["wandb_dir_bytes"] = dir_bytes(run_dir / "wandb")
        result["steps"] = record.get("steps")
        if record.get("steps"):
            result["cpu_ms_per_1k_steps"] = result["cpu_s"] / record["steps"] * 1e6
        result.update(steady_accounting(result, timeline, spec.mode))
    if not args.keep_runs:
        shutil.rmtree(run_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    return result


# --------------------------------------------------------------------------- the suite


def budgets(args: argparse.Namespace) -> dict[str, int]:
    rollout = ROLLOUT_STEPS_PER_ENV * args.n_envs
    if args.quick:
        return {"simple": 8 * rollout, "pybullet": 4 * rollout}
    return {"simple": args.simple_rollouts * rollout, "pybullet": args.pybullet_rollouts * rollout}


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


def machine_description() -> dict[str, Any]:
    from rl_train.store.record import library_versions

    model = cpu_model()
    versions = library_versions()
    return {
        "cpu_model": model,
        "nproc": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_bytes": _memory_total(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def _memory_total() -> int | None:
    try:
        import psutil

        return psutil.virtual_memory().total
    except ImportError:
        return None


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def write_chart(table: dict[tuple[str, str], dict[str, Any]], path: Path, job: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("steady_steps_per_s", "steady steps/s (median, min–max)"),
        ("startup_s", "startup: process start → first env step (s)"),
        ("wandb_finish_s", "finish the W&B run (s)"),
        ("run_dir_bytes", "run dir on disk (MB)"),
    )
    blocks = sorted(table.items(), key=_block_order)
    labels = [f"{env}\n{profile}" for (env, profile), _ in blocks]
    colors = {"disabled": "#999999", "offline": "#1f77b4", "online": "#ff7f0e"}
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    width = 0.8 / len(MODES)
    for axis, (key, title) in zip(axes.ravel(), panels, strict=True):
        scale = 1e6 if key == "run_dir_bytes" else 1.0
        for index, mode in enumerate(MODES):
            xs, heights, low_err, high_err = [], [], [], []
            for position, (_, block) in enumerate(blocks):
                stats = block.get(mode, {}).get("stats", {}).get(key)
                if stats is None:
                    continue
                median, low, high = (v / scale for v in stats)
                xs.append(position + (index - 1) * width)
                heights.append(median)
                low_err.append(median - low)
                high_err.append(high - median)
            if xs:
                axis.bar(
                    xs,
                    heights,
                    width,
                    yerr=[low_err, high_err],
                    capsize=3,
                    label=mode,
                    color=colors[mode],
                )
        axis.set_xticks(range(len(labels)), labels)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="y", alpha=0.3)
    axes[0][0].legend()
    figure.suptitle(
        f"rl-train: what W&B logging costs (medians of interleaved runs)\n{job}", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_outputs(
    runs: list[dict[str, Any]], meta: dict[str, Any], prefix: Path
) -> tuple[str, list[Path]]:
    table = summarize(runs)
    lines = [
        "# W&B logging modes: what they cost",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']['cpu_model']}, {meta['machine']['nproc']} cores, "
        f"{(meta['machine']['memory_bytes'] or 0) / 1e9:.0f} GB; "
        f"{', '.join(f'{k} {v}' for k, v in meta['machine']['versions'].items())}  ",
        f"Date: {meta['started']}; load average before {meta['load_before']}, "
        f"after {meta.get('load_after', '?')}  ",
        f"Job: {meta['job']}  ",
        *([f"Link to the server: {meta['link']}  "] if meta.get("link") else []),
        "",
        "Each cell: median (min–max) over the repetitions; ×r = ratio of the median to "
        "disabled's. Startup = process start to the first env step; wandb.init = the call "
        "itself (in rl-train's logging process, while the trainer imports torch and starts "
        "its env workers); start-up blocked on W&B = what the trainer waited for it after "
        "its envs were up; steps/s = steady state "
        "(after the first rollout, updates included); one log call = what the training loop "
        "pays per W&B row (pickling it to rl-train's logging process); run.log in the logging "
        "process = wandb's own time per row, off the training loop; finish = that process "
        "logging what is still in flight + `run.finish()` (the upload "
        "in online mode); bytes written = file writes of the process tree "
        "(getrusage ru_oublock, includes pruned checkpoints); storage = the run dir at the "
        f"end. Network: {BYTES_SENT_HOW}. Memory: {MEMORY_HOW}.",
        "",
        issue_shaped_table(table),
        "Details (the same runs):",
        "",
        markdown_tables(table),
        "Targets (issues 7 and 22):",
        "",
        *target_lines(table, meta.get("probe"), meta.get("idle"), meta.get("host")),
        "",
    ]
    if meta.get("online_unavailable"):
        lines.append(f"Online mode unavailable: {meta['online_unavailable']}")
        lines.append("")
    text = "\n".join(lines)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    # Not with_suffix: a prefix like logging_modes.quick has a dot of its own.
    paths = [prefix.parent / (prefix.name + s) for s in (".md", ".csv", ".json", ".png")]
    paths[0].write_text(text)
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run if k not in keys]
    with open(paths[1], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(runs)
    paths[2].write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    try:
        write_chart(table, paths[3], meta["job"].split(";")[0])
    except ImportError as exc:  # matplotlib missing: the numbers still stand
        print(f"logging_modes: no chart ({exc})", file=sys.stderr)
        paths.pop()
    return text, paths


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _reexec_in_project_venv()
    if args.from_json is not None:
        saved = json.loads(args.from_json.read_text())
        for order, run in enumerate(saved["runs"]):
            run.setdefault("order", order)  # written in the order they ran
        if args.add_probe and not saved["meta"].get("probe"):
            saved["meta"]["probe"] = probe_wandb_start(args.probe_reps, child_env())
        text, _ = write_outputs(saved["runs"], saved["meta"], args.output_prefix)
        print(text)
        return 0
    run_env = child_env()

    proxy, online_env, online_unavailable, server_process = None, None, None, None
    if "online" in args.modes:
        online_unavailable = check_online(args.server_url, args.api_key)
        if online_unavailable is None:
            url = urllib.parse.urlsplit(args.server_url)
            online_env = dict(run_env, WANDB_API_KEY=args.api_key)
            if url.scheme == "http" and url.hostname:
                proxy = CountingProxy(
                    url.hostname, url.port or 80, args.latency_ms, args.bandwidth_kbps
                )
                server_process = local_server_process(url.hostname, url.port or 80)
                online_env["WANDB_BASE_URL"] = f"http://127.0.0.1:{proxy.port}"
            else:
                online_env["WANDB_BASE_URL"] = args.server_url
        else:
            print(f"online mode unavailable: {online_unavailable}", flush=True)

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="rl-train-logging-modes-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    specs = plan(args)
    meta = {
        "command": shlex.join(["python", "benchmarks/logging_modes.py", *(argv or sys.argv[1:])]),
        "started": datetime.now().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "load_before": _load(),
        "job": (
            f"--n-envs {args.n_envs} --vec-env {args.vec_env or 'default'} --seed {args.seed}; "
            "budgets "
            + ", ".join(
                f"{env} {steps:,} steps" for env, steps in budgets(args).items() if env in args.envs
            )
            + f"; {args.reps} repetition(s), modes interleaved; heavy profile: "
            f"--checkpoint-freq {2 * ROLLOUT_STEPS_PER_ENV * args.n_envs}"
        ),
        "bytes_sent_how": BYTES_SENT_HOW,
        "memory_how": MEMORY_HOW,
        "server": args.server_url if "online" in args.modes else None,
        "link": link_description(args),
        "online_unavailable": online_unavailable,
    }
    runs: list[dict[str, Any]] = []
    partial = args.output_prefix.parent / (args.output_prefix.name + ".partial.json")
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not args.no_warmup and specs:
            warm = RunSpec(
                specs[0].env, "default", "disabled", -1, 2 * ROLLOUT_STEPS_PER_ENV * args.n_envs
            )
            print("warm-up run (discarded) ...", flush=True)
            run_one(warm, args, work_dir, run_env, None)
        if not args.no_host_check:
            print("host speed check (a fixed loop, 10 times) ...", flush=True)
            meta["host"] = host_speed()
        if args.probe_reps > 0 and "offline" in args.modes:
            print(f"W&B start probe x{args.probe_reps} ...", flush=True)
            meta["probe"] = probe_wandb_start(args.probe_reps, run_env)
        if args.idle_probe_s > 0 and "offline" in args.modes:
            print(f"W&B idle probe ({args.idle_probe_s:g} s) ...", flush=True)
            meta["idle"] = probe_wandb_idle(args.idle_probe_s, run_env)
        queue, retried = list(specs), set()
        index = 0
        while queue:
            spec = queue.pop(0)
            index += 1
            if spec.mode == "online" and online_env is None:
                runs.append(
                    {
                        "env": spec.env,
                        "profile": spec.profile,
                        "mode": "online",
                        "rep": spec.rep,
                        "status": "unavailable",
                        "reason": online_unavailable,
                    }
                )
                continue
            env = online_env if spec.mode == "online" else run_env
            online = spec.mode == "online"
            result = run_one(
                spec,
                args,
                work_dir,
                env,
                proxy if online else None,
                server_process if online else None,
            )
            result["retry"] = spec.name in retried
            result["order"] = len(runs)  # its place in the sequence (drift_reference)
            runs.append(result)
            # Kept up to date, so a stopped benchmark still leaves its runs
            # (render them with --from-json).
            partial.write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
            rate = result.get("steady_steps_per_s")
            print(
                f"[{index}/{len(specs) + len(retried)}] {spec.name}: {result['status']}"
                + (f", {rate:,.0f} steps/s" if rate else "")
                + (f", startup {result['startup_s']:.1f} s" if result.get("startup_s") else "")
                + (f" ({result['reason']})" if result.get("reason") else ""),
                flush=True,
            )
            if (
                spec.mode == "online"
                and result["status"] == "failed"
                and not any(r["mode"] == "online" and r["status"] == "ok" for r in runs)
            ):
                # The first online run failed: do not spend the others on a broken server.
                online_env, online_unavailable = (
                    None,
                    f"first online run failed: {result['reason']}",
                )
                meta["online_unavailable"] = online_unavailable
            elif result["status"] == "failed" and spec.name not in retried:
                # Once more at the end (a passing hiccup, e.g. a file being edited in a
                # shared checkout); the failed attempt stays in the CSV/JSON.
                retried.add(spec.name)
                queue.append(spec)
    finally:
        if proxy is not None:
            proxy.close()
        if args.work_dir is None and not args.keep_runs:
            shutil.rmtree(work_dir, ignore_errors=True)
    meta["load_after"] = _load()
    meta["finished"] = datetime.now().isoformat(timespec="seconds")
    text, paths = write_outputs(runs, meta, args.output_prefix)
    partial.unlink(missing_ok=True)
    print()
    print(text)
    print(
        "wrote "
        + ", ".join(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p) for p in paths)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
