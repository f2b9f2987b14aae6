"""metrics.jsonl: every SB3 logger dump, one JSON line each, in the run dir.

W&B's offline writer buffers, so a SIGKILL loses its last rows; this journal is
flushed at every dump (once per rollout). On resume the rows W&B lost before the
checkpoint are replayed from here, which keeps the synced history continuous, and
`rl-train runs` reads it for runs that have no W&B data.
"""

from __future__ import annotations

import json
import os
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


def _parse(lines: list[str]) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


TAIL_BYTES = 64 * 1024  # some 60 rows of a PPO run: rollout, train and eval keys


def tail_rows(path: Path, max_bytes: int = TAIL_BYTES) -> list[dict[str, Any]]:
    """The complete rows in the last `max_bytes` of the journal: what a reader of a running
    run needs, at a cost that does not grow with the run."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            file.seek(start)
            data = file.read(size - start)
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").split("\n")
    if start > 0:
        lines = lines[1:]  # begun mid-line
    if not data.endswith(b"\n"):
        lines = lines[:-1]  # being written this very moment
    return _parse(lines)


class JournalFollower:
    """Reads the rows appended to a journal since the last call, as `tail -F` does.

    A resume truncates the journal to its checkpoint by replacing the file (atomic), so a
    new inode or a shorter file means: start over, the rows read so far are stale.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.inode: tuple[int, int] | None = None
        self.offset = 0
        self.pending = b""  # a line not finished yet

    def read_new(self) -> tuple[list[dict[str, Any]], bool]:
        """(new rows, whether the journal was replaced and the earlier rows are void)."""
        try:
            with open(self.path, "rb") as file:
                stat = os.fstat(file.fileno())
                inode = (stat.st_dev, stat.st_ino)
                restarted = self.inode is not None and (
                    inode != self.inode or stat.st_size < self.offset
                )
                if restarted or self.inode is None:
                    self.inode, self.offset, self.pending = inode, 0, b""
                file.seek(self.offset)
                data = file.read()
        except OSError:
            return [], False
        self.offset += len(data)
        data = self.pending + data
        complete, _, self.pending = data.rpartition(b"\n")
        if not complete:
            return [], restarted
        return _parse(complete.decode("utf-8", errors="replace").split("\n")), restarted


def truncate_after(path: Path, step: int) -> list[dict[str, Any]]:
    """Keep rows up to `step` (what a resume from that step continues), return them."""
    rows = [row for row in read_rows(path) if row.get("_step", 0) <= step]
    if path.exists():
        write_text_atomic(path, "".join(_line(row) for row in rows))
    return rows
