"""A run's history: its W&B transaction logs merged over every session, or its journal.

`runs export`, `runs plot` and `runs show` read runs through here, without a network.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, TextIO

from rl_train.store import journal, wandb_txlog
from rl_train.store.layout import JOURNAL_FILE, wandb_logs
from rl_train.store.query import LocalRun, read_config


@dataclass
class History:
    """A run's W&B data merged over all its folders: one row per global step."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return any("cut short" in w for w in self.warnings)

    def keys(self) -> list[str]:
        """Metric keys, `_step` first, W&B's own `_` keys last."""
        found = {key for row in self.rows for key in row} - {"_step"}
        return ["_step", *sorted(found, key=lambda k: (k.startswith("_"), k))]

    def series(self, key: str) -> tuple[list[int], list[float]]:
        points = [(r["_step"], r[key]) for r in self.rows if _is_number(r.get(key))]
        return [s for s, _ in points], [float(v) for _, v in points]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_history(run: LocalRun) -> History:
    """Replay the run's `.wandb` logs oldest first; a later folder wins a step (a resume
    re-logs from its checkpoint). Without W&B data, fall back to metrics.jsonl."""
    history = History()
    by_step: dict[int, dict[str, Any]] = {}
    for folder in run.wandb_dirs():
        for log_file in wandb_logs(folder):
            try:
                log = wandb_txlog.read_run(log_file)
            except (wandb_txlog.TransactionLogError, OSError) as exc:
                history.warnings.append(f"{log_file} skipped: {exc}")
                continue
            history.sources.append(str(log_file))
            for row in log.history:
                by_step.setdefault(int(row.get("_step", -1)), {}).update(row)
            history.config.update(log.config)
            history.summary.update(log.summary)
            history.files.extend(f for f in log.files if f not in history.files)
            if log.truncated:
                history.warnings.append(
                    f"{log_file.name} is cut short ({log.problem}); exported the "
                    f"{len(log.history)} complete rows before the cut"
                )
    if not history.sources:
        _history_from_journal(run, history, by_step)
    history.rows = [{"_step": step, **row} for step, row in sorted(by_step.items())]
    history.config.pop("_wandb", None)  # W&B's own bookkeeping, not the run's config
    return history


def _history_from_journal(run: LocalRun, history: History, by_step: dict) -> None:
    path = run.path / JOURNAL_FILE
    if not path.exists():
        history.warnings.append(f"{run.name} has no W&B log and no {JOURNAL_FILE}")
        return
    for row in journal.read_rows(path):
        by_step.setdefault(int(row.get("_step", -1)), {}).update(row)
    history.sources.append(str(path))
    history.config.update(read_config(run))
    history.warnings.append(f"{run.name} has no W&B log; exported {JOURNAL_FILE}")


def export(run: LocalRun, history: History, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        document = {
            "run_id": run.run_id,
            "name": run.name,
            "state": run.state,
            "truncated": history.truncated,
            "warnings": history.warnings,
            "sources": history.sources,
            "config": history.config,
            "summary": history.summary,
            "history": history.rows,
        }
        json.dump(document, out, indent=1, default=str)
        out.write("\n")
        return
    keys = history.keys()
    writer = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history.rows:
        # Histograms and other structured values become JSON text in their cell.
        writer.writerow({k: _csv_cell(row.get(k)) for k in keys})


def export_many(histories: list[tuple[LocalRun, History]], fmt: str, out: TextIO) -> None:
    """Several runs as one long table: a row per run and step, the run's name and id first
    (csv); or {"runs": [each run as `export` writes it]} (json)."""
    if fmt == "json":
        out.write('{"runs": [\n')
        for i, (run, history) in enumerate(histories):
            buffer = io.StringIO()
            export(run, history, fmt, buffer)
            out.write(buffer.getvalue().rstrip("\n") + (",\n" if i < len(histories) - 1 else "\n"))
        out.write("]}\n")
        return
    keys = {key for _, history in histories for key in history.keys()} - {"_step"}
    fields = ["run", "run_id", "_step", *sorted(keys, key=lambda k: (k.startswith("_"), k))]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for run, history in histories:
        for row in history.rows:
            cells = {k: _csv_cell(row.get(k)) for k in fields[2:]}
            writer.writerow({"run": run.name, "run_id": run.run_id, **cells})


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value
