"""Result files: their paths from a prefix, JSON and CSV as every benchmark writes them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from benchlib.command import REPO


def paths(prefix: Path, *suffixes: str) -> list[Path]:
    """prefix + each suffix (".md", ".json"): not with_suffix, as a prefix like
    logging_modes.quick has a dot of its own. Makes the folder."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    return [prefix.parent / (prefix.name + suffix) for suffix in suffixes]


def write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One row per dict; the columns are every key seen, in the order first seen."""
    keys: list[str] = []
    for row in rows:
        keys += [key for key in row if key not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def shown(path: Path) -> str:
    """The path as a result names it: relative to the checkout where it is inside it."""
    return str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def header(script: str, argv: list[str] | None, load_start: float | None) -> dict[str, str]:
    """What a result names first: the command that made it, the machine, the date (UTC), and
    the load average when the script started and now (at its end)."""
    from datetime import datetime, timezone

    from benchlib import machine
    from benchlib.command import script_command

    def load(value: float | None) -> str:
        return "unknown" if value is None else f"{value:.2f}"

    return {
        "command": script_command(script, argv),
        "machine": machine.summary_line(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load(load_start),
        "load_end": load(machine.load_average()),
    }


def write_report(prefix: Path | str, markdown: str, document: Any, indent: int = 1) -> None:
    """prefix.md (the report as written) and prefix.json (what it was made from)."""
    md, js = paths(Path(prefix), ".md", ".json")
    md.write_text(markdown)
    js.write_text(json.dumps(document, indent=indent) + "\n")
