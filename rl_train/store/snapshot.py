"""Snapshot of the code a run used: source files, git commit and uncommitted diff."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from rl_train.store.checkpoint import sha256_of

PACKAGES = ("rl_train", "envs")
SOURCE_SUFFIXES = {".py", ".yml", ".yaml", ".toml", ".md", ".cfg", ".txt"}
TOP_LEVEL_FILES = ("pyproject.toml", "Makefile", "README.md")
MANIFEST_FILE = "manifest.json"  # sha256 of every copied source file


def project_root() -> Path:
    """The checkout (or site-packages) folder that holds our packages."""
    return Path(__file__).resolve().parents[2]


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _source_files(root: Path) -> list[Path]:
    files = [root / name for name in TOP_LEVEL_FILES if (root / name).is_file()]
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            wanted = path.is_file() and path.suffix in SOURCE_SUFFIXES
            if wanted and "__pycache__" not in path.parts:
                files.append(path)
    return files


def write_snapshot(target: Path, root: Path | None = None) -> Path:
    """Copy our sources into target/ with their checksums (manifest.json), and record git
    state in target/git.json + diff.patch."""
    root = root or project_root()
    target.mkdir(parents=True, exist_ok=True)
    digests = {}
    for source in _source_files(root):
        destination = target / source.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        digests[destination.relative_to(target).as_posix()] = sha256_of(destination)
    # What `rl-train runs verify` checks the snapshot against (store/verify.py).
    (target / MANIFEST_FILE).write_text(json.dumps(digests, indent=1) + "\n")
    commit = _git(root, "rev-parse", "HEAD")
    git_info = {
        "commit": commit.strip() if commit else None,
        "dirty": bool((_git(root, "status", "--porcelain") or "").strip()),
        "branch": (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
    }
    (target / "git.json").write_text(json.dumps(git_info, indent=2) + "\n")
    diff = _git(root, "diff", "HEAD") if commit else None
    if diff:
        (target / "diff.patch").write_text(diff)
    return target
