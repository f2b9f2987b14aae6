"""env_throughput.py's report: each env's steps/s and reset cost, ours against panda-gym's,
and the absolute targets (benchmarks/results/env_throughput.md)."""

from __future__ import annotations


def markdown(summary: dict) -> str:
    m = summary["machine"]
    lines = [
        "# Env throughput",
        "",
        f"{m['date']}, {m['host']}: {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
        f"load average {m['load_average_start']:.1f} at start, {m['load_average_end']:.1f} at end "
        f"(shared machine). {m['rounds']} interleaved rounds of {m['seconds']} s per env; "
        "one process per env, one env per process.",
        "",
        "| env | by | steps/s (median) | reset (ms) |",
        "|---|---|---:|---:|",
    ]
    for env_id, row in summary["envs"].items():
        lines.append(
            f"| {env_id} | {row['owner']} | {row['steps_per_s_median']:,.0f} "
            f"| {row['reset_ms_median']:.2f} |"
        )
    if summary["comparisons"]:
        lines += ["", "| ours | panda-gym | ratio (median of rounds) | target | met |"]
        lines.append("|---|---|---:|---:|---|")
        for c in summary["comparisons"]:
            target = "-" if c["target"] is None else f">= {c['target']}x"
            met = "-" if c["met"] is None else ("yes" if c["met"] else "no")
            lines.append(
                f"| {c['ours']} | {c['panda_gym']} | {c['ratio_median']:.2f}x | {target} | {met} |"
            )
    else:
        lines += ["", "panda-gym not installed: no comparison."]
    if summary["absolute"]:
        lines += ["", "| env | steps/s (median) | target | met |", "|---|---:|---:|---|"]
        for a in summary["absolute"]:
            met = "yes" if a["met"] else "no"
            lines.append(
                f"| {a['env']} | {a['steps_per_s_median']:,.0f} | >= {a['target']:,} | {met} |"
            )
    return "\n".join(lines) + "\n"
