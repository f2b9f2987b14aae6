"""metrics.jsonl: every SB3 logger dump, one JSON line each, in the run dir.

W&B's offline writer buffers, so a SIGKILL loses its last rows; this journal is
flushed at every dump (once per rollout). On resume the rows W&B lost before the
checkpoint are replayed from here, which keeps the synced history continuous, and
`rl-train runs` reads it for runs that have no W&B data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rl_train.store.atomic import write_text_atomic


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row) + "\n"


class JournalWriter:
    """Appends rows {"_step": step, key: number, ...}; each one is flushed at once."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a")  # noqa: SIM115 (kept open for the whole run)

    def append(self, step: int, values: dict[str, int | float]) -> None:
        self.file.write(_line({"_step": step, **values}))
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Complete lines only: a line cut by a crash is ignored."""
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def truncate_after(path: Path, step: int) -> list[dict[str, Any]]:
    """Keep rows up to `step` (what a resume from that step continues), return them."""
    rows = [row for row in read_rows(path) if row.get("_step", 0) <= step]
    if path.exists():
        write_text_atomic(path, "".join(_line(row) for row in rows))
    return rows
