"""Atomic checkpoints: write to a temporary folder, fsync, rename; validate by checksum.

Layout: <run_dir>/checkpoints/<step>/{model.zip, vecnormalize.pkl, rng.pkl, meta.json}
and <run_dir>/checkpoints/latest naming the newest complete one. A crash at any moment
leaves the previous checkpoint usable: a folder only gets its final name once every
byte in it is on disk, and `latest` is replaced, never rewritten in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_train.store.atomic import TMP_PREFIX, fsync_dir, fsync_file, write_text_atomic

MODEL_FILE = "model.zip"
VECNORM_FILE = "vecnormalize.pkl"
RNG_FILE = "rng.pkl"
META_FILE = "meta.json"
LATEST_FILE = "latest"
BEST_DIR = "best"  # the best policy so far, by evaluation: never pruned, never `latest`


class CheckpointError(Exception):
    """A checkpoint is missing, incomplete or corrupt."""


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def vecnormalize_path(self) -> Path | None:
        path = self.path / VECNORM_FILE
        return path if path.exists() else None

    @property
    def rng_path(self) -> Path | None:
        path = self.path / RNG_FILE
        return path if path.exists() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fault_point(name: str, step: int) -> None:
    """Crash tests set RL_TRAIN_FAULT=<name>:<step> to SIGKILL us exactly here."""
    if os.environ.get("RL_TRAIN_FAULT") == f"{name}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def commit_checkpoint(
    tmp_dir: Path, root: Path, step: int, meta: dict[str, Any], name: str | None = None
) -> Path:
    """Seal a folder whose data files are written: checksums, meta, fsync, rename to
    root/<step> and point `latest` at it; or rename to root/<name> (the best checkpoint),
    leaving `latest` alone."""
    files = sorted(p for p in tmp_dir.iterdir() if p.is_file() and p.name != META_FILE)
    meta = {**meta, "step": step, "saved_at": time.time()}
    meta["files"] = {p.name: sha256_of(p) for p in files}
    fault_point("checkpoint-write", step)
    with open(tmp_dir / META_FILE, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True, default=str)
    for path in [*files, tmp_dir / META_FILE]:
        fsync_file(path)
    fsync_dir(tmp_dir)
    final = root / (name or str(step))
    if final.exists():  # saved again (final == periodic; a new best): replace it
        stale = root / f"{TMP_PREFIX}stale-{final.name}-{os.getpid()}"
        os.rename(final, stale)
        os.rename(tmp_dir, final)
        shutil.rmtree(stale, ignore_errors=True)
    else:
        os.rename(tmp_dir, final)
    fsync_dir(root)
    if name is None:
        write_text_atomic(root / LATEST_FILE, f"{step}\n")
    return final


def new_tmp_dir(root: Path, step: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{TMP_PREFIX}{step}-{os.getpid()}-{time.monotonic_ns()}"
    tmp.mkdir()
    return tmp


def load_meta(path: Path) -> dict[str, Any]:
    try:
        with open(path / META_FILE) as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} has no {META_FILE} (incomplete checkpoint)") from None
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path}/{META_FILE} is unreadable ({exc})") from None
    if not isinstance(meta, dict) or "step" not in meta or "files" not in meta:
        raise CheckpointError(f"{path}/{META_FILE} lacks step or checksums")
    return meta


def validate(path: Path) -> Checkpoint:
    """Return the checkpoint if every file it lists is present with its checksum."""
    meta = load_meta(path)
    if MODEL_FILE not in meta["files"]:
        raise CheckpointError(f"{path} holds no {MODEL_FILE}")
    for name, expected in meta["files"].items():
        file = path / name
        if not file.exists():
            raise CheckpointError(f"{file} is missing")
        if sha256_of(file) != expected:
            raise CheckpointError(f"{file} is corrupt (checksum mismatch)")
    return Checkpoint(path, meta)


def list_checkpoints(root: Path) -> list[Path]:
    """Complete-looking checkpoint folders, oldest first (temporary ones are skipped)."""
    if not root.is_dir():
        return []
    steps = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(steps, key=lambda p: int(p.name))


def find_latest_valid(root: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest valid checkpoint, and one warning per newer one that was not valid."""
    warnings: list[str] = []
    for path in reversed(list_checkpoints(root)):
        try:
            return validate(path), warnings
        except CheckpointError as exc:
            warnings.append(f"skipping checkpoint {path.name}: {exc}")
    return None, warnings


def prune(root: Path, keep: int, protect: set[Path] = frozenset()) -> list[Path]:
    """Delete all but the newest `keep` checkpoints and leftover temporary folders."""
    removed = []
    for path in list_checkpoints(root)[:-keep] if keep > 0 else []:
        if path not in protect:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for leftover in root.glob(f"{TMP_PREFIX}*"):
        if leftover.is_dir() and str(os.getpid()) not in leftover.name:
            shutil.rmtree(leftover, ignore_errors=True)
    return removed
