"""Atomic writes: a temporary name, fsync, rename, fsync of the folder.

A crash at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_path(path: Path, named: str) -> None:
    """Before any work: a file can be written at `path` (its folder exists and takes files;
    it is no folder). `named` is how the user gave it (`-o policy.onnx`), for the error."""
    from rl_train.errors import UserError

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{named} is a folder; name a file in it")
    if not folder.is_dir():
        raise UserError(f"{named}: no directory {folder}; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{named}: {folder} is not writable; choose another path")


def temporary_sibling(path: Path) -> Path:
    """A name next to `path` that no other process writing the same file would pick."""
    return path.with_name(f"{TMP_PREFIX}{path.name}-{os.getpid()}")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = temporary_sibling(path)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())
