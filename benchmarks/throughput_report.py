"""throughput.py's report: the table of every setting, the limits, the paired ratios of
backends, and the plot (benchmarks/results/throughput.{md,json,png})."""

from __future__ import annotations

import os
from pathlib import Path

from benchlib import machine
from benchlib.results import write_json
from benchlib.stats import ratios, spread

from rl_train.machine import cpu_model

BACKENDS = ("dummy", "subproc", "shm", "native")  # native: the simple env only
# shm with SB3's own update on one thread (the trainer before #39), to compare with: asked for
# by name (--backends shm shm-sb3), not in the default sweep.
BEFORE_39 = "shm-sb3"


def paired_ratios(results: list[dict], numerator: str, denominator: str) -> list[str]:
    """Median (min-max) over repeats of numerator/denominator steps/s, per env and n_envs.
    Repeat i of both ran back to back, so each ratio compares runs of the same moment."""
    lines = []
    rows = {(r["env"], r["backend"], r["n_envs"]): r for r in results if "error" not in r}
    for (env, backend, n_envs), top in rows.items():
        bottom = rows.get((env, denominator, n_envs))
        if backend != numerator or bottom is None:
            continue
        found = spread(
            ratios(list(zip(top["steps_per_s_runs"], bottom["steps_per_s_runs"], strict=True)))
        )
        if found:
            median, low, high, n, _ = found
            between = f" ({low:.2f}-{high:.2f})" if n > 1 else ""
            lines.append(
                f"- {env}, {n_envs} envs: {numerator} / {denominator} = "
                f"{median:.2f}x{between} over {n} paired " + ("runs" if n > 1 else "run")
            )
    return lines


def table(results: list[dict], limits: dict[str, dict]) -> str:
    lines = [
        "| env | backend | n_envs | PPO steps/s | of limit | update share | CPU ms/step "
        "| CPU efficiency | learner CPU ms/step | start-up s | peak PSS MB | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        if "error" in row:
            lines.append(
                f"| {row['env']} | {row['backend']} | {row['n_envs']} | failed | | | | | | | | |"
            )
            continue
        limit = limits[row["env"]]["limit"]
        env_ms = 1000 / limits[row["env"]]["single_core"]
        rate = row["steps_per_s"] or 0.0
        cpu = row.get("cpu_ms_per_step")
        cpu_text = f"{cpu:.3f} | {env_ms / cpu:.0%}" if cpu else "| "
        learner = row.get("learner_cpu_ms_per_step")  # absent from results before 2026-12
        learner_text = f"{learner:.3f}" if learner else ""
        runs = [r for r in row.get("steps_per_s_runs", []) if r]
        spread = f" ({min(runs):,.0f}-{max(runs):,.0f})" if len(runs) > 1 else ""
        lines.append(
            f"| {row['env']} | {row['backend']} | {row['n_envs']} | {rate:,.0f}{spread} "
            f"| {rate / limit:.0%} | {row['update_share']:.0%} | {cpu_text} | {learner_text} "
            f"| {row['startup_s']:.1f} | {row['peak_pss_mb']:,.0f} | {row['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def limits_text(limits: dict[str, dict], cores: int) -> str:
    return "\n".join(
        f"- {env} ({info['env_id']}): single-core {info['single_core']:,.0f} env steps/s "
        f"(measured before {info['before']:,.0f}, after {info['after']:,.0f}) x {cores} "
        f"cores = limit {info['limit']:,.0f} steps/s"
        for env, info in limits.items()
    )


def plot(results: list[dict], limits: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(limits)
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4.2), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        for backend in (*BACKENDS, BEFORE_39):
            rows = [
                r
                for r in results
                if r["env"] == env and r["backend"] == backend and "error" not in r
            ]
            if rows:
                ax.plot(
                    [r["n_envs"] for r in rows],
                    [r["steps_per_s"] for r in rows],
                    marker="o",
                    label=backend,
                )
        ax.axhline(limits[env]["limit"], color="black", linestyle="--", label="limit")
        ax.axhline(0.85 * limits[env]["limit"], color="grey", linestyle=":", label="85% of limit")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("--n-envs")
        ax.set_ylabel("PPO training steps/s")
        ax.set_title(f"{env} ({limits[env]['env_id']})")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(
    out: Path,
    command: str,
    cores: int,
    repeats: int,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    limits: dict[str, dict],
    results: list[dict],
) -> str:
    """Writes throughput.md, .json and .png under out; returns the Markdown."""
    text = "\n".join(
        [
            f"Command: `{command}`",
            f"Machine: {machine.summary_line()} (nproc {os.cpu_count()}); "
            f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end "
            "(other work shared the machine when the load is above the core count).",
            "",
            limits_text(limits, cores),
            "",
            (
                f"Each setting ran {repeats} times, interleaved with the other backends "
                "(their order rotating each repetition); the table gives medians, and the "
                "steps/s of the slowest and fastest run."
                if repeats > 1
                else "Each setting ran once, the backends of one n_envs back to back."
            ),
            "",
            *(paired_ratios(results, "shm", "subproc") or ["(no shm/subproc pairs)"]),
            *paired_ratios(results, "shm", BEFORE_39),
            "",
            "PPO steps/s: steady state (after the first rollout), rollouts and updates; "
            "of limit: that over the limit. Update share: PPO update time over rollout + "
            "update time. CPU ms/step: CPU time of all processes (learner, workers) per env "
            "step while training; CPU efficiency: the bare env's CPU per step over that, "
            "i.e. the share of all CPU spent on physics (unlike steps/s, not lowered by other "
            "processes sharing the cores, but lowered when the host slows the CPU during the "
            "run); no schedule can take PPO steps/s above that share of the limit, "
            "which assumes all CPU goes to physics. Learner CPU ms/step: the main process "
            "alone (SB3's PPO rollout loop and update, logging threads; with dummy also the "
            "envs). Start-up: process start to the first env step. Peak PSS: "
            "all processes together (RSS double-counts shared pages).",
            "",
            table(results, limits),
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.md").write_text(text + "\n")
    document = {
        "command": command,
        "cpu": cpu_model(),
        "usable_cores": cores,
        "load_average": {"start": load_start, "end": load_end},
        "repeats": repeats,
        "limits": limits,
        "results": results,
    }
    write_json(out / "throughput.json", document)
    plot(results, limits, out / "throughput.png")
    return text
