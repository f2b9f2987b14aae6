"""metrics.jsonl: every SB3 logger dump, one JSON line each, in the run dir.

W&B's offline writer buffers, so a SIGKILL loses its last rows; this journal is
flushed at every dump (once per rollout, so it costs nothing measurable). On resume
the rows W&B lost before the checkpoint are replayed from here, which keeps the
synced history continuous.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import KVWriter

from rl_train.checkpoint import write_text_atomic

JOURNAL_FILE = "metrics.jsonl"


def _plain(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return value.item()
    return None


class JournalOutputFormat(KVWriter):
    def __init__(self, path: Path) -> None:
        self.file = open(path, "a")  # noqa: SIM115 (kept open for the whole run)

    def write(self, key_values: dict[str, Any], key_excluded: dict, step: int = 0) -> None:
        row = {k: v for k, v in ((k, _plain(v)) for k, v in key_values.items()) if v is not None}
        self.file.write(json.dumps({"_step": step, **row}) + "\n")
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
        write_text_atomic(path, "".join(json.dumps(row) + "\n" for row in rows))
    return rows


def fsync(path: Path) -> None:
    if path.exists():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
