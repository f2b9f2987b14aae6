"""learning.py's report: the per-seed table with Wilson intervals, the pooled rates, and the
curves of every seed (benchmarks/results/learning.<task>.{md,png})."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from rl_train.units import format_duration

TARGET = 0.9  # the success a seed must reach (issue 38)


def trained_span(results: list[dict]) -> str:
    """When the runs trained: from the first start to the last end."""

    def utc(stamp: float) -> str:
        return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    ends = [r["ended_at"] for r in results if r["ended_at"]]
    first = utc(min(r["started_at"] for r in results))
    return f"trained {first} to {utc(max(ends))}" if ends else f"trained from {first}"


def _seeds(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"


def _rate(scored: dict | None) -> str:
    if scored is None:
        return "-"
    low, high = scored["ci95"]
    return f"{scored['success_rate']:.1%} ({low:.1%}-{high:.1%})"


def _reached(found: dict | None) -> str:
    return f"{found['step']:,} steps, {format_duration(found['wall_s'])}" if found else "never"


def markdown(task: str, document: dict) -> str:
    episodes = document["episodes"]
    lines = [
        f"# Learning: {task}, {_seeds(len(document['seeds']))}",
        "",
        f"`{document['command']}`  ",
        f"Scored on {document['machine']}; {document['date']}. Success on {episodes} test "
        "episodes each (deterministic, 95% Wilson interval); 90%: the first rollout (success "
        "of the last 100 standard-start episodes) and the first validation evaluation at or "
        "over 90%.",
        "",
        "| seed | steps | final policy | best policy (step) | rollouts >= 90% | "
        "validation >= 90% | wall time | trained on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in document["seeds"]:
        best = r.get("best")
        best_text = f"{_rate(best)} ({best['step']:,})" if best else "-"
        wall = format_duration(r["wall_s"]) if r["wall_s"] else "-"
        lines.append(
            f"| {r['seed']} | {r['steps']:,} ({r['state']}) | {_rate(r.get('latest'))} | "
            f"{best_text} | {_reached(r['rollout_90'])} | {_reached(r['validation_90'])} | "
            f"{wall} | {r.get('trained_on', '-')} |"
        )
    for which, label in (("latest", "final policies"), ("best", "best policies")):
        if document["pooled"][which]:
            p = document["pooled"][which]
            lines.append(
                f"\nPooled, {label}: **{_rate(p)}**, {p['successes']}/{p['episodes']} "
                f"over {_seeds(p['seeds'])}."
            )
    return "\n".join(lines) + "\n"


def plot(task: str, results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for r in results:
        if not r["curve"]:
            continue
        steps, values, _ = zip(*r["curve"], strict=True)
        (line,) = axes.plot(steps, values, label=f"seed {r['seed']}, rollouts", linewidth=1)
        if r["validation_curve"]:
            v_steps, v_values, _ = zip(*r["validation_curve"], strict=True)
            axes.plot(v_steps, v_values, "o", color=line.get_color(), markersize=3,
                      label=f"seed {r['seed']}, validation")  # fmt: skip
    axes.axhline(TARGET, color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="env steps", ylabel="success rate", ylim=(-0.02, 1.02),
             title=f"{task}: success per seed (rollouts: standard starts)")  # fmt: skip
    axes.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
