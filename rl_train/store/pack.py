"""A run as one portable file: `rl-train runs pack` and `rl-train runs unpack`.

What the offline-mode guide does with `tar -czf` for old runs, made safe: the run is
locked while it is read (no training session writes half a checkpoint into the archive),
every file's sha256 goes into a manifest at the archive's end, and unpacking extracts into
a hidden folder beside the destination, checks every file against the manifest (a
truncated download, a flipped bit) and only then renames the folder into place: a damaged
archive leaves nothing behind. The unpacked run is an ordinary run: it resumes, evaluates,
exports and syncs where it lands.

Archive: <run name>/<every file of the run, its lock and symbolic links left out; a file
hard-linked twice (a checkpoint and W&B's copy of it) stored once and linked>, then
<run name>/rl-train-pack.json {format, rl_train_version, run_name, run_id, packed_at,
files: {relative path: {sha256, bytes}}}.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import rl_train
from rl_train.errors import UserError
from rl_train.store.atomic import fsync_file, temporary_sibling
from rl_train.store.checkpoint import sha256_of
from rl_train.store.layout import LOCK_FILE, RECORD_FILE, is_run_dir
from rl_train.store.lock import RunLock
from rl_train.store.query import LocalRun, load_run
from rl_train.store.record import RunRecord

MANIFEST = "rl-train-pack.json"
PACK_FORMAT = 1
PACK_BUSY = "pack it when it ends"
CHUNK = 1 << 20


@dataclass
class Packed:
    path: Path
    files: int
    bytes: int
    skipped_links: list[str]


class _Hashing(io.RawIOBase):
    """A file read through once: what tarfile copies is what gets hashed."""

    def __init__(self, file) -> None:
        self.file, self.digest = file, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.file.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def pack_run(run: LocalRun, output: Path) -> Packed:
    """The run, locked meanwhile, as `output` (a .tar.gz), written whole or not at all."""
    temporary = temporary_sibling(output)
    files: dict[str, dict] = {}
    links: list[str] = []
    with RunLock.acquire(run.path, "pack", PACK_BUSY):
        try:
            # Level 6: checkpoints are zip files already; 9 costs time for nothing.
            with tarfile.open(temporary, "w:gz", compresslevel=6) as tar:
                for path in sorted(run.path.rglob("*")):
                    relative = path.relative_to(run.path).as_posix()
                    name = f"{run.name}/{relative}"
                    if path.is_symlink():
                        links.append(relative)  # W&B's latest-run: a pointer, not data
                    elif path.is_dir():  # empty ones too (a run's checkpoints/ may be)
                        tar.add(path, arcname=name, recursive=False)
                    elif path.is_file() and relative != LOCK_FILE:
                        files[relative] = _add(tar, path, name)
                manifest = {
                    "format": PACK_FORMAT,
                    "rl_train_version": rl_train.__version__,
                    "run_name": run.name,
                    "run_id": run.record.run_id,
                    "packed_at": time.time(),
                    "files": files,
                }
                data = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(f"{run.name}/{MANIFEST}")
                info.size, info.mtime = len(data), int(time.time())
                tar.addfile(info, io.BytesIO(data))
            fsync_file(temporary)
            os.replace(temporary, output)
        except OSError as exc:
            raise UserError(
                f"cannot write {output} ({exc.strerror or exc}); the run is unchanged, "
                "free space or pick another -o"
            ) from None
        finally:
            temporary.unlink(missing_ok=True)
    return Packed(output, len(files), sum(f["bytes"] for f in files.values()), links)


def _add(tar: tarfile.TarFile, path: Path, name: str) -> dict:
    info = tar.gettarinfo(str(path), arcname=name)
    if info.islnk():  # a hard link to a file packed before (W&B's copy of a checkpoint)
        tar.addfile(info)
        return {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    with path.open("rb") as file:
        reader = _Hashing(file)
        tar.addfile(info, io.BufferedReader(reader, CHUNK))
    return {"sha256": reader.digest.hexdigest(), "bytes": info.size}


def unpack_run(archive: Path, output_dir: Path) -> LocalRun:
    """The packed run, checked file by file, as output_dir/<run name>."""
    if not archive.is_file():
        raise UserError(f"{archive}: no such file; pass a file made by `rl-train runs pack`")
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = output_dir / f".unpack-{os.getpid()}"
    try:
        name = _extract(archive, staging)
        destination = output_dir / name
        if destination.exists():
            raise UserError(
                f"{destination} already exists; unpack into another --output-dir, or move "
                "that run away first"
            )
        run_dir = staging / name
        _verify(archive, run_dir)
        (run_dir / MANIFEST).unlink()
        os.replace(run_dir, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _rebase_record(destination)
    run = load_run(destination)
    assert run is not None  # _verify found its record
    return run


def _extract(archive: Path, staging: Path) -> str:
    """Extract into staging; return the run's folder name. Only plain files and folders
    under one top folder, none outside it."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            tops = {PurePosixPath(m.name).parts[0] for m in members if m.name}
            for member in members:
                names = [member.name] + ([member.linkname] if member.islnk() else [])
                if not (member.isfile() or member.isdir() or member.islnk()) or any(
                    name.startswith("/") or ".." in PurePosixPath(name).parts for name in names
                ):
                    raise UserError(
                        f"{archive} holds {member.name!r}, which is no plain file of a run; "
                        "it was not made by `rl-train runs pack`"
                    )
            if len(tops) != 1 or f"{next(iter(tops))}/{MANIFEST}" not in tar.getnames():
                raise UserError(
                    f"{archive} is not a packed run (no {MANIFEST}); make one with "
                    "`rl-train runs pack RUN`"
                )
            staging.mkdir()
            tar.extractall(staging, **_data_filter())
            return next(iter(tops))
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise UserError(
            f"{archive} is damaged or incomplete ({type(exc).__name__}: {exc}); copy it again "
            "or pack the run again"
        ) from None


def _data_filter() -> dict:
    """Python's own guard against archive tricks where it has one (3.10.12+, 3.11.4+)."""
    return {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _verify(archive: Path, run_dir: Path) -> None:
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
        listed = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{archive}: its {MANIFEST} is unreadable; pack the run again") from None
    found = {
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and p.name != MANIFEST
    }
    unlisted = sorted(found - set(listed))
    if unlisted:
        raise UserError(f"{archive}: {unlisted[0]} is not in its manifest; pack the run again")
    for relative, expected in sorted(listed.items()):
        path = run_dir / relative
        if not path.is_file():
            raise UserError(f"{archive}: {relative} is missing; copy the file again")
        if sha256_of(path) != expected["sha256"]:
            raise UserError(
                f"{archive}: {relative} does not match its checksum; copy the file again"
            )
    if not is_run_dir(run_dir) or not (run_dir / RECORD_FILE).is_file():
        raise UserError(f"{archive} holds no run (no config or record); pack a run")


def _rebase_record(run_dir: Path) -> None:
    record = RunRecord.load(run_dir)
    record.moved_to(run_dir)
    record.save()
