"""Atomic checkpoints: write to a temporary folder, fsync, rename; validate by checksum.

Layout: <run_dir>/checkpoints/<step>/{model.zip, vecnormalize.pkl, state.pkl, meta.json};
the newest valid one is what a resume and `rl-train eval --checkpoint latest` take. A
crash at any moment leaves the previous checkpoint usable: a folder only gets its final
name once every byte in it is on disk.

checkpoints/best is the best policy so far. A new best moves the one it replaces to
checkpoints/best-history/<step>, kept while a checkpoint names it as the best of its
time: a resume from that checkpoint puts it back (set_aside_future).
"""

from __future__ import annotations

import contextlib
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
RNG_FILE = "rng.pkl"  # the RNG states, in checkpoints from before state.pkl
STATE_FILE = "state.pkl"  # RNGs, the envs' and wrappers' state (training/run_state.py)
META_FILE = "meta.json"
BEST_DIR = "best"  # the best policy so far, by evaluation: never pruned, never resumed
BEST_HISTORY_DIR = "best-history"  # bests replaced since the oldest kept checkpoint
ASIDE_DIR = "set-aside"  # what a resume from an older checkpoint moved out of the way
# meta.json of a numbered checkpoint: the best's step at that time (None: no best yet)
BEST_STEP_KEY = "best_step"
TEST_KEY = "test"  # in best's meta.json, once its run has finished: its test score


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

    @property
    def state_path(self) -> Path | None:
        path = self.path / STATE_FILE
        return path if path.exists() else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# Crash tests set RL_TRAIN_FAULT=<name>:<step>[:<signal>] to send the trainer a signal
# (SIGKILL unless named: INT, TERM) at a named moment: checkpoint-write, rollout (a step),
# update (a gradient step), evaluation (its end).
FAULT = os.environ.get("RL_TRAIN_FAULT", "")
_FAULT_AT, _, _FAULT_SIGNAL = FAULT.rpartition(":") if FAULT.count(":") == 2 else (FAULT, "", "")


def fault_point(name: str, step: int) -> None:
    if FAULT and _FAULT_AT == f"{name}:{step}":
        os.kill(os.getpid(), getattr(signal, f"SIG{_FAULT_SIGNAL or 'KILL'}"))


def commit_checkpoint(
    tmp_dir: Path, root: Path, step: int, meta: dict[str, Any], name: str | None = None
) -> Path:
    """Seal a folder whose data files are written: checksums, meta, fsync, rename to
    root/<step>; or to root/<name> (the best checkpoint, the one it replaces going to the
    best history)."""
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
    if final.exists() and name == BEST_DIR:
        _keep_in_history(final, root)
    if final.exists():  # saved again (final == periodic): replace it
        stale = root / f"{TMP_PREFIX}stale-{final.name}-{os.getpid()}"
        os.rename(final, stale)
        os.rename(tmp_dir, final)
        shutil.rmtree(stale, ignore_errors=True)
    else:
        os.rename(tmp_dir, final)
    fsync_dir(root)
    return final


def _step_of(path: Path) -> int | None:
    try:
        return int(load_meta(path)["step"])
    except (CheckpointError, ValueError, TypeError):
        return None


def _keep_in_history(best: Path, root: Path) -> None:
    step = _step_of(best)
    if step is None:
        return  # unreadable: nothing a resume could put back
    history = root / BEST_HISTORY_DIR
    history.mkdir(exist_ok=True)
    target = history / str(step)
    if target.exists():
        shutil.rmtree(target)
    os.rename(best, target)
    fsync_dir(history)


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


def add_to_meta(path: Path, key: str, value: Any) -> None:
    """One more entry in a checkpoint's meta.json, written atomically (meta.json is not
    among the checksummed files: the checkpoint stays valid)."""
    meta = load_meta(path)
    meta[key] = value
    write_text_atomic(path / META_FILE, json.dumps(meta, indent=2, sort_keys=True, default=str))


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
    """Delete all but the newest `keep` checkpoints, the former bests none of the kept ones
    names, and leftover temporary folders."""
    removed = []
    for path in list_checkpoints(root)[:-keep] if keep > 0 else []:
        if path not in protect:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    formers = list_checkpoints(root / BEST_HISTORY_DIR)
    named = set()
    for path in list_checkpoints(root) if formers else []:
        try:
            named.add(load_meta(path).get(BEST_STEP_KEY))
        except CheckpointError:
            continue
    for former in formers:
        if int(former.name) not in named:
            shutil.rmtree(former, ignore_errors=True)
    with contextlib.suppress(OSError):  # no former best left: no empty folder either
        (root / BEST_HISTORY_DIR).rmdir()
    for leftover in root.glob(f"{TMP_PREFIX}*"):
        if leftover.is_dir() and str(os.getpid()) not in leftover.name:
            shutil.rmtree(leftover, ignore_errors=True)
    return removed


def set_aside_future(root: Path, step: int, best_step: int | None) -> Path | None:
    """Before a resume from `step`: move what the abandoned future wrote (checkpoints
    after it, a best chosen after it) to root/set-aside/<time>/, and put back the best the
    resume point knew (`best_step`, from the history). Returns the folder, if any."""
    future = [p for p in list_checkpoints(root) if int(p.name) > step]
    future += [p for p in list_checkpoints(root / BEST_HISTORY_DIR) if int(p.name) > step]
    best = root / BEST_DIR
    best_now = _step_of(best) if best.is_dir() else None
    if best.is_dir() and best_now != best_step:
        future.append(best)
    if not future:
        return None
    aside = root / ASIDE_DIR / time.strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True, exist_ok=True)
    for path in future:
        name = path.name if path.parent == root else f"{path.parent.name}-{path.name}"
        os.rename(path, aside / name)
    former = root / BEST_HISTORY_DIR / str(best_step)
    if best_step is not None and not best.exists() and former.is_dir():
        os.rename(former, best)
    fsync_dir(root)
    return aside
