"""A sweep's results, read from its trials' run dirs (no Ray needed): a table of trials, a
mean ± std over seeds per configuration, as CSV and Markdown, and the learning curves
grouped by configuration as a PNG."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_train.store import journal, query
from rl_train.store.layout import JOURNAL_FILE
from rl_train.sweep.spec import OPTION_KEYS, SweepSpec, swept_keys

TRIALS_FILE = "trials.json"  # Tune's view of each trial (status, error), by the driver
CSV_FILE, MARKDOWN_FILE, CURVES_FILE = "trials.csv", "report.md", "curves.png"
CURVE_METRICS = ("rollout/ep_rew_mean",)  # drawn below the sweep's metric


@dataclass
class TrialRow:
    name: str
    params: dict[str, Any]
    seed: int | None
    state: str
    steps: int = 0
    total: int = 0
    best_success: float | None = None
    final_success: float | None = None
    steps_per_s: float | None = None
    error: str = ""
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def config_label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items()) or "base"


def _param(config: dict[str, Any], key: str) -> Any:
    if key in OPTION_KEYS:
        return config.get(key)
    return (config.get("hyperparams") or {}).get(key)


def read_trials_file(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((sweep_dir / TRIALS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def trial_rows(spec: SweepSpec, sweep_dir: Path) -> list[TrialRow]:
    keys = swept_keys(spec)
    tune_view = read_trials_file(sweep_dir)
    rows = []
    for run in query.find_runs(sweep_dir):
        config = query.read_config(run)
        record = run.record
        best = query.best_checkpoint(run)
        seen = tune_view.get(run.name, {})
        state = run.state
        if state == "interrupted" and seen.get("status") == "TERMINATED":
            state = "stopped early"  # by the scheduler (ASHA): Tune ended it, not a signal
        rows.append(
            TrialRow(
                name=run.name,
                params={key: _param(config, key) for key in keys},
                seed=config.get("seed"),
                state=state,
                steps=record.steps,
                total=record.total_timesteps,
                best_success=best.eval.get("success_rate") if best else None,
                final_success=record.success_rate,
                steps_per_s=record.timings.get("steady_steps_per_s"),
                error=seen.get("error", ""),
                path=run.path,
            )
        )
    known = {row.name for row in rows}
    for name, seen in sorted(tune_view.items()):  # failed before its run dir was made
        if name not in known:
            rows.append(
                TrialRow(
                    name=name,
                    params=seen.get("params", {}),
                    seed=seen.get("seed"),
                    state=seen.get("status", "error").lower(),
                    error=seen.get("error", ""),
                )
            )
    return sorted(rows, key=lambda row: row.name)


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def by_config(rows: list[TrialRow]) -> list[dict[str, Any]]:
    """One entry per configuration: its seeds' best and final success, mean ± std."""
    groups: dict[str, list[TrialRow]] = {}
    for row in rows:
        groups.setdefault(row.config_label(), []).append(row)
    out = []
    for label, members in groups.items():
        finals = [r.final_success for r in members if r.final_success is not None]
        bests = [r.best_success for r in members if r.best_success is not None]
        speeds = [r.steps_per_s for r in members if r.steps_per_s]
        final_mean, final_std = _mean_std(finals)
        best_mean, best_std = _mean_std(bests)
        out.append(
            {
                "config": label,
                "seeds": len(members),
                "finished": sum(r.state == "finished" for r in members),
                "final_success_mean": final_mean,
                "final_success_std": final_std,
                "best_success_mean": best_mean,
                "best_success_std": best_std,
                "steps_per_s_mean": statistics.fmean(speeds) if speeds else None,
            }
        )
    # The best configuration first, by the validation evaluations that chose each trial's
    # best (ranking by the final test score would choose on the test episodes), then final.
    return sorted(
        out,
        key=lambda g: (-(g["best_success_mean"] or -1.0), -(g["final_success_mean"] or -1.0)),
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _pm(mean: float | None, std: float | None) -> str:
    return "-" if mean is None else f"{mean:.0%} ± {(std or 0.0):.0%}"


def trial_table(rows: list[TrialRow]) -> list[list[str]]:
    header = ["trial", "config", "seed", "best", "final", "steps", "steps/s", "state"]
    body = [
        [
            row.name,
            row.config_label(),
            "-" if row.seed is None else str(row.seed),
            _pct(row.best_success),
            _pct(row.final_success),
            f"{row.steps:,}/{row.total:,}" if row.total else "-",
            f"{row.steps_per_s:,.0f}" if row.steps_per_s else "-",
            row.state + (f": {row.error}" if row.error else ""),
        ]
        for row in rows
    ]
    return [header, *body]


def config_table(groups: list[dict[str, Any]]) -> list[list[str]]:
    header = ["config", "seeds", "finished", "final success", "best success", "steps/s"]
    body = [
        [
            g["config"],
            str(g["seeds"]),
            str(g["finished"]),
            _pm(g["final_success_mean"], g["final_success_std"]),
            _pm(g["best_success_mean"], g["best_success_std"]),
            f"{g['steps_per_s_mean']:,.0f}" if g["steps_per_s_mean"] else "-",
        ]
        for g in groups
    ]
    return [header, *body]


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in table[1:]]
    return "\n".join(lines)


def plain(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def write_csv(rows: list[TrialRow], path: Path) -> None:
    keys = sorted({k for row in rows for k in row.params})
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["trial", *keys, "seed", "best_success", "final_success", "steps", "total_steps"]
            + ["steps_per_s", "state", "error", "run_dir"]
        )
        for row in rows:
            writer.writerow(
                [row.name, *(row.params.get(k) for k in keys), row.seed, row.best_success]
                + [row.final_success, row.steps, row.total, row.steps_per_s, row.state]
                + [row.error, row.path or ""]
            )


def mean_curves(rows: list[TrialRow], metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per configuration, the metric's mean over its seeds at the steps all of them have."""
    per_config: dict[str, list[dict[int, float]]] = {}
    for row in rows:
        if row.path is None:
            continue
        points = {
            int(r["_step"]): float(r[metric])
            for r in journal.read_rows(row.path / JOURNAL_FILE)
            if isinstance(r.get(metric), int | float)
        }
        if points:
            per_config.setdefault(row.config_label(), []).append(points)
    curves = {}
    for label, seeds in per_config.items():
        steps = sorted(set.intersection(*(set(points) for points in seeds)))
        values = [statistics.fmean(points[s] for points in seeds) for s in steps]
        curves[f"{label} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})"] = (steps, values)
    return curves


def write_report(spec: SweepSpec, sweep_dir: Path) -> str:
    """Writes trials.csv, report.md and curves.png into the sweep's folder; returns the
    text to print."""
    rows = trial_rows(spec, sweep_dir)
    groups = by_config(rows)
    write_csv(rows, sweep_dir / CSV_FILE)
    title = f"# Sweep {spec.name}\n\n"
    text = (
        f"{title}## Trials\n\n{markdown(trial_table(rows))}\n\n"
        f"## Per configuration (mean ± std over seeds)\n\n{markdown(config_table(groups))}\n"
    )
    (sweep_dir / MARKDOWN_FILE).write_text(text)
    curves = {m: c for m in (spec.metric, *CURVE_METRICS) if (c := mean_curves(rows, m))}
    if curves:
        from rl_train.store.plotting import plot_curves

        plot_curves(curves, sweep_dir / CURVES_FILE)
    return (
        f"{plain(trial_table(rows))}\n\nper configuration (mean ± std over seeds):\n"
        f"{plain(config_table(groups))}\n\n"
        f"written: {sweep_dir / CSV_FILE}, {sweep_dir / MARKDOWN_FILE}"
        + (f", {sweep_dir / CURVES_FILE}" if curves else "")
    )
