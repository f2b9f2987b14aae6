"""W&B's transaction log (`run-<id>.wandb`): read it without a network, and, on resume,
cut the rows a crashed session logged after the checkpoint it resumes from.

The logging process (tracking/process.py) writes this file through wandb; everything
here reads it, or rewrites it in the one case above. wandb >= 0.2x dropped its Python
reader (`wandb.sdk.internal.datastore`); the file is still a LevelDB-style log of
`wandb_internal_pb2.Record` protobufs, so the framing is read here and the records are
decoded with wandb's own protobuf classes. A file cut short by a crash yields every
complete record before the cut and reports the cut.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rl_train.store.atomic import write_bytes_atomic
from rl_train.store.layout import wandb_logs

FILE_HEADER = struct.Struct("<4sHB")  # ident ":W&B", magic 0xBEE1, version 0
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, chunk type
BLOCK_SIZE = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
# The checksum of a chunk is seeded with the CRC of its type byte.
_TYPE_CRC = {t: zlib.crc32(bytes([t])) & 0xFFFFFFFF for t in (FULL, FIRST, MIDDLE, LAST)}


class TransactionLogError(ValueError):
    """The file is not a W&B transaction log."""


@dataclass
class ScanResult:
    """What scanning a log found: records, and whether/where it stopped early."""

    records: list = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each record's bytes as written
    truncated: bool = False
    problem: str = ""


def _iter_chunks(data: bytes, result: ScanResult) -> Iterator[tuple[int, bytes]]:
    offset = FILE_HEADER.size
    while offset < len(data):
        space_in_block = BLOCK_SIZE - offset % BLOCK_SIZE
        if space_in_block < RECORD_HEADER.size:
            offset += space_in_block  # block trailer padding
            continue
        if offset + RECORD_HEADER.size > len(data):
            result.truncated, result.problem = True, f"cut inside a record header at {offset}"
            return
        crc, length, chunk_type = RECORD_HEADER.unpack_from(data, offset)
        if crc == 0 and length == 0 and chunk_type == 0:
            # Zero padding (a preallocated or torn tail): nothing more was committed.
            offset += space_in_block
            continue
        start = offset + RECORD_HEADER.size
        payload = data[start : start + length]
        if len(payload) < length:
            result.truncated, result.problem = True, f"cut inside a record at {offset}"
            return
        if chunk_type not in _TYPE_CRC or zlib.crc32(payload, _TYPE_CRC[chunk_type]) != crc:
            result.truncated, result.problem = True, f"bad checksum at byte {offset}"
            return
        yield chunk_type, payload
        offset = start + length


def scan(path: str | Path) -> ScanResult:
    """Decode every complete record of a `.wandb` file, in order."""
    from wandb.proto import wandb_internal_pb2  # lazy: only readers pay for protobuf

    data = Path(path).read_bytes()
    if len(data) < FILE_HEADER.size:
        raise TransactionLogError(f"{path}: too short to be a W&B transaction log")
    ident, magic, version = FILE_HEADER.unpack_from(data)
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise TransactionLogError(f"{path}: not a W&B transaction log (bad header)")
    result = ScanResult()
    pending: list[bytes] | None = None
    for chunk_type, payload in _iter_chunks(data, result):
        if chunk_type == FULL:
            whole = payload
        elif chunk_type == FIRST:
            pending = [payload]
            continue
        elif chunk_type == MIDDLE and pending is not None:
            pending.append(payload)
            continue
        elif chunk_type == LAST and pending is not None:
            whole, pending = b"".join(pending + [payload]), None
        else:
            result.truncated, result.problem = True, "chunk sequence broken"
            break
        record = wandb_internal_pb2.Record()
        record.ParseFromString(whole)
        result.records.append(record)
        result.raw.append(whole)
    if pending is not None and not result.truncated:
        result.truncated, result.problem = True, "file ends inside a multi-chunk record"
    return result


def _decode(value_json: str) -> Any:
    try:
        return json.loads(value_json)
    except ValueError:
        return value_json


def _item_key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


@dataclass
class RunLog:
    """The parts of one offline run a user inspects: history, config, summary, files."""

    run_id: str = ""
    project: str = ""
    display_name: str = ""
    group: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    exit_code: int | None = None
    truncated: bool = False
    problem: str = ""


def read_run(path: str | Path) -> RunLog:
    """Replay a `.wandb` file into history rows, config, summary and saved files."""
    scanned = scan(path)
    run = RunLog(truncated=scanned.truncated, problem=scanned.problem)
    for record in scanned.records:
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.run_id = record.run.run_id
            run.project = record.run.project
            run.display_name = record.run.display_name
            run.group = record.run.run_group
            for item in record.run.config.update:
                run.config[_item_key(item)] = _decode(item.value_json)
        elif kind == "history":
            row = {_item_key(item): _decode(item.value_json) for item in record.history.item}
            if record.history.HasField("step"):
                row.setdefault("_step", record.history.step.num)
            run.history.append(row)
        elif kind == "config":
            for item in record.config.update:
                run.config[_item_key(item)] = _decode(item.value_json)
            for item in record.config.remove:
                run.config.pop(_item_key(item), None)
        elif kind == "summary":
            for item in record.summary.update:
                run.summary[_item_key(item)] = _decode(item.value_json)
        elif kind == "files":
            run.files.extend(f.path for f in record.files.files)
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    return run


def _frame(payloads: list[bytes]) -> bytes:
    """Lay records out in W&B's block format, as its own writer does."""
    out = bytearray(FILE_HEADER.pack(b":W&B", 0xBEE1, 0))
    for data in payloads:
        first = True
        while True:
            space = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if space < RECORD_HEADER.size:
                out += b"\0" * space
                continue
            chunk, data = data[: space - RECORD_HEADER.size], data[space - RECORD_HEADER.size :]
            last = not data
            kind = FULL if first and last else FIRST if first else LAST if last else MIDDLE
            out += RECORD_HEADER.pack(zlib.crc32(chunk, _TYPE_CRC[kind]), len(chunk), kind)
            out += chunk
            first = False
            if last:
                break
    return bytes(out)


def cut_history_after(path: str | Path, step: int) -> int:
    """Drop history rows logged after `step`; keep the original as `<file>.bak`.

    A resumed run continues from its last checkpoint, so rows a crashed session
    logged after that checkpoint describe training that was thrown away; dropping
    them keeps the run's history continuous, with no step logged twice.
    Returns how many rows were dropped (0: the file is left untouched).
    """
    path = Path(path)
    scanned = scan(path)
    kept = [
        raw
        for record, raw in zip(scanned.records, scanned.raw, strict=True)
        if not (record.WhichOneof("record_type") == "history" and _row_step(record) > step)
    ]
    dropped = len(scanned.records) - len(kept)
    if dropped == 0 and not scanned.truncated:
        return 0
    backup = path.with_name(path.name + ".bak")
    if not backup.exists():
        os.link(path, backup)
    write_bytes_atomic(path, _frame(kept))
    return dropped


def cut_to_whole_records(path: str | Path) -> bool:
    """A log cut short (a power cut, a full disk) rewritten with its whole records only,
    the original kept as `<file>.bak`; False when it was whole already."""
    path = Path(path)
    scanned = scan(path)
    if not scanned.truncated:
        return False
    backup = path.with_name(path.name + ".bak")
    if not backup.exists():
        os.link(path, backup)
    write_bytes_atomic(path, _frame(scanned.raw))
    return True


def _row_step(record) -> int:
    if record.history.HasField("step"):
        return record.history.step.num
    for item in record.history.item:
        if item.key == "_step":
            return int(json.loads(item.value_json))
    return -1


def has_log(folder: Path) -> bool:
    """A transaction log with more than its header: a run killed before W&B's first
    flush leaves an empty one, which holds nothing to export and makes `wandb sync` fail."""
    return any(f.stat().st_size > FILE_HEADER.size for f in wandb_logs(folder))


def logged_steps(folders: list[str] | list[Path]) -> set[int]:
    """Every history step the transaction logs of these W&B folders hold."""
    steps: set[int] = set()
    for folder in folders:
        for log_file in wandb_logs(Path(folder)):
            steps.update(row.get("_step") for row in read_run(log_file).history)
    return steps


def _has_run_record(log_file: Path) -> bool:
    try:
        return bool(read_run(log_file).run_id)
    except (TransactionLogError, OSError):
        return False


def cut_stale_history(wandb_dirs: list[str], step: int) -> None:
    """Before a resume from `step`: rows earlier sessions logged after it were thrown away
    with their training; drop them so that syncing all of a run's folders gives one
    history. A folder killed before W&B's first flush holds nothing to sync (its rows come
    back from metrics.jsonl) and would make `wandb sync` fail: it is removed, and so is
    its entry in `wandb_dirs` (the run record's list, changed in place)."""
    for folder in list(wandb_dirs):
        for log_file in wandb_logs(Path(folder)):
            if not _has_run_record(log_file):
                shutil.rmtree(folder, ignore_errors=True)
                wandb_dirs.remove(folder)
                print(f"rl-train: removed empty W&B folder {folder}", file=sys.stderr)
                break
            dropped = cut_history_after(log_file, step)
            if dropped:
                print(
                    f"rl-train: dropped {dropped} W&B rows logged after step {step:,} in "
                    f"{log_file.parent.name} (original kept as {log_file.name}.bak)",
                    file=sys.stderr,
                )


def write_without_first_rows(
    path: str | Path, out: Path, rows: int, leave_file: Callable[[str], bool] | None = None
) -> int:
    """Write to `out` the log at `path` less its first `rows` history rows (those a server
    already has: store/sync.py) and less the saved files `leave_file(path)` says to leave
    (`runs sync --exclude`), every other record kept, in order. Returns the history rows
    written."""
    scanned = scan(path)
    kept, seen, written = [], 0, 0
    for record, raw in zip(scanned.records, scanned.raw, strict=True):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            seen += 1
            if seen <= rows:
                continue
            written += 1
        elif kind == "files" and leave_file is not None:
            files = [f for f in record.files.files if not leave_file(f.path)]
            if len(files) != len(record.files.files):
                if not files:
                    continue
                del record.files.files[:]
                record.files.files.extend(files)
                raw = record.SerializeToString()
        kept.append(raw)
    write_bytes_atomic(out, _frame(kept))
    return written
