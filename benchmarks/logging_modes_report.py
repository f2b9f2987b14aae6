"""The logging-modes benchmark's report: per env and profile, each mode's medians, ranges
and ratios to disabled (paired run by run), as Markdown tables, CSV, JSON and a chart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchlib import results
from benchlib.stats import median_min_max, paired_difference, paired_ratio
from logging_modes_run import ENV_NAMES, ENVS, MEMORY_POLL_S, MODES, PROFILES
from logging_modes_targets import target_lines

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


PAIRED = ("steady_steps_per_s", "steady_main_cpu_ms_per_1k_steps")


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


def _block_order(item: tuple[tuple[str, str], Any]) -> tuple[int, int]:
    (env, profile), _ = item
    env_rank = list(ENVS).index(env) if env in ENVS else 99
    return env_rank, PROFILES.index(profile) if profile in PROFILES else 99


def _mode_order(mode: str) -> int:
    return MODES.index(mode) if mode in MODES else 99


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
    paths = results.paths(prefix, ".md", ".csv", ".json", ".png")
    paths[0].write_text(text)
    results.write_csv(paths[1], runs)
    results.write_json(paths[2], {"meta": meta, "runs": runs})
    try:
        write_chart(table, paths[3], meta["job"].split(";")[0])
    except ImportError as exc:  # matplotlib missing: the numbers still stand
        print(f"logging_modes: no chart ({exc})", file=sys.stderr)
        paths.pop()
    return text, paths
