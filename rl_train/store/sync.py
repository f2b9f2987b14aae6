"""`rl-train runs sync`: what of a run is uploaded, and uploading the rest with `wandb sync`.

The W&B folders are handed to the real `wandb sync` CLI. What was synced is recorded in
<run_dir>/sync.json, written atomically only after every folder of the run uploaded, so
`list` and `clean --synced` never trust a half-finished sync.

An online folder whose upload stopped short (a dead server, the finish bound) is uploaded
as its remainder: a copy of its transaction log without the history rows the server
acknowledged (store/upload.py), synced into the same W&B run. `wandb sync` of the whole
folder would send those rows again: a server that appends what it gets (openwandb does)
would then hold them twice.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl_train.errors import UserError
from rl_train.store.atomic import write_text_atomic
from rl_train.store.layout import SYNC_FILE, sync_markers, wandb_logs
from rl_train.store.lock import RunLock
from rl_train.store.query import LocalRun, older_than
from rl_train.store.upload import is_online_folder, upload_progress

REMAINDER_DIR = ".sync-remainder"  # in the run dir, while `runs sync` uploads a remainder

SYNC_TIMEOUT_S = 3600.0
SYNC_BUSY = "sync it when it ends"
DEFAULT_OUTPUT_DIR = Path("runs")


def sync_command(run_dir: Path) -> str:
    """The command that uploads what of this run the server lacks. `rl-train runs sync`
    works wherever rl-train does (wandb's CLI may not be on PATH)."""
    where = "" if run_dir.parent == DEFAULT_OUTPUT_DIR else f" --output-dir {run_dir.parent}"
    return f"rl-train runs sync {run_dir.name}{where}"


def _fingerprint(folder: Path) -> dict[str, int]:
    """Size and mtime of a folder's transaction log: any rewrite or append changes it."""
    log_file = wandb_logs(folder)[0]
    stat = log_file.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_sync_record(run: LocalRun) -> dict[str, Any]:
    try:
        data = json.loads((run.path / SYNC_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _uploaded(folder: Path, synced: dict[str, Any]) -> bool:
    """On the server: synced as it is now, or an online folder whose upload completed."""
    if synced.get(folder.name) == _fingerprint(folder):
        return True
    return is_online_folder(folder) and upload_progress(folder).complete


def unsynced_dirs(run: LocalRun) -> list[Path]:
    """The folders still to upload, oldest first: from the first one that is new or
    changed since the last sync (or online and not fully uploaded), every later offline
    folder, so the server gets the history in order, and every later online folder the
    server lacks part of."""
    synced = read_sync_record(run).get("folders", {})
    folders = run.wandb_dirs()
    for index, folder in enumerate(folders):
        if not _uploaded(folder, synced):
            rest = folders[index + 1 :]
            later = [f for f in rest if not is_online_folder(f) or not _uploaded(f, synced)]
            return [folder, *later]
    return []


def sync_status(run: LocalRun) -> str:
    """synced | partly (new data since the last sync, or an online upload that stopped
    short) | no | online (uploaded as it trained) | local (no W&B data)."""
    folders = run.wandb_dirs()
    if not folders:
        return "local"
    pending = unsynced_dirs(run)
    if not pending:
        return "synced" if run.offline_dirs() or read_sync_record(run) else "online"
    if read_sync_record(run).get("folders") or any(is_online_folder(f) for f in folders):
        return "partly"
    return "no"


def wandb_executable() -> Path:
    """The `wandb` CLI of this very environment, so it matches the wandb that wrote the logs."""
    exe = Path(sys.executable).with_name("wandb")
    if not exe.exists():
        raise UserError(f"no wandb CLI next to {sys.executable}; pip install wandb in this env")
    return exe


@dataclass
class SyncPlan:
    run: LocalRun
    folders: list[Path]
    skip_reason: str = ""


def plan_sync(
    runs: list[LocalRun],
    finished_only: bool,
    min_age_s: float | None,
    include_synced: bool = False,
) -> list[SyncPlan]:
    """What to upload of each run; with include_synced, all of each run's folders, synced
    before or not (to another server: `runs sync --include-synced`)."""
    plans = []
    for run in runs:
        folders = run.wandb_dirs() if include_synced else unsynced_dirs(run)
        why = _skip_reason(run, finished_only, min_age_s, include_synced)
        plans.append(SyncPlan(run, folders, why))
    return plans


def _skip_reason(
    run: LocalRun, finished_only: bool, min_age_s: float | None, include_synced: bool = False
) -> str:
    holder = run.in_use()
    if holder is not None:
        return f"in use by {holder.describe()}; {SYNC_BUSY}"
    state = run.state
    if state == "running":
        return f"still running; {SYNC_BUSY}"
    if finished_only and state != "finished":
        return f"{state}, not finished (--finished-only)"
    if min_age_s is not None and not older_than(run, min_age_s):
        return "newer than --older-than"
    if not run.wandb_dirs():
        return "no W&B data (trained with --wandb-mode disabled)"
    if not include_synced and not unsynced_dirs(run):
        return "already synced" if run.offline_dirs() else "online run, already on the server"
    return ""


def sync_run(
    plan: SyncPlan, wandb_exe: Path, base_url: str, exclude: list[str] = (), whole: bool = False
) -> None:
    """Upload the run's pending folders in one `wandb sync` call, oldest first (W&B then
    appends them to one run: they share the run id), then record them as synced."""
    run, folders = plan.run, plan.folders
    # The run's own lock: no training session, clean or second sync meanwhile.
    with RunLock.acquire(run.path, "sync", SYNC_BUSY):
        _cut_pending_rows(run)
        # Taken before the upload: a log that grows meanwhile then shows as not synced.
        uploaded = {f.name: _fingerprint(f) for f in folders}
        shutil.rmtree(run.path / REMAINDER_DIR, ignore_errors=True)  # a killed sync's
        try:
            sources = [_upload_source(run, f, list(exclude), whole) for f in folders]
            _run_wandb_sync(plan, sources, wandb_exe, base_url)
        finally:
            shutil.rmtree(run.path / REMAINDER_DIR, ignore_errors=True)
        _record_sync(run, uploaded, base_url, list(exclude))


def _cut_pending_rows(run: LocalRun) -> None:
    """Rows a resume with W&B disabled left to cut (record.wandb_cut): cut them now."""
    step = run.record.wandb_cut_pending
    if step is None:
        return
    from rl_train.store import wandb_txlog

    wandb_txlog.cut_stale_history([str(d) for d in run.wandb_dirs()], step)
    run.record.wandb_cut_pending = None
    run.record.run_dir = str(run.path)
    run.record.save()


def _upload_source(run: LocalRun, folder: Path, exclude: list[str], whole: bool) -> Path:
    """What `wandb sync` gets for a folder: the folder; or, for an online folder that the
    server has part of, its remainder (see the module doc; `whole`: all of it, for another
    server); or, with `exclude` globs, a copy that names and holds none of the files they
    match."""
    online = is_online_folder(folder) and not whole
    sent = upload_progress(folder).history_rows if online else 0
    if sent == 0 and not exclude:
        return folder  # nothing of its history reached the server: all of it goes
    from rl_train.store import wandb_txlog

    log_file = wandb_logs(folder)[0]
    remainder = run.path / REMAINDER_DIR / folder.name
    remainder.mkdir(parents=True)
    leave = (lambda path: excluded(path, exclude)) if exclude else None
    wandb_txlog.write_without_first_rows(log_file, remainder / log_file.name, sent, leave)
    # The files its records name are uploaded from the folder's files/ (media, checkpoints):
    # linked there, less the excluded ones, so that no upload path can find those.
    files = folder / "files"
    for path in sorted(files.rglob("*")) if files.is_dir() else []:
        relative = path.relative_to(files).as_posix()
        if path.is_file() and not (exclude and excluded(relative, exclude)):
            target = remainder / "files" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    return remainder


def excluded(path: str, globs: list[str]) -> bool:
    """A saved file `runs sync --exclude` leaves out: a glob matches its path in the run's
    files, or its name (`*.zip` leaves out every checkpoint's model.zip)."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(path, glob) or fnmatch.fnmatch(name, glob) for glob in globs)


def _run_wandb_sync(plan: SyncPlan, sources: list[Path], wandb_exe: Path, base_url: str) -> None:
    run = plan.run
    for source in sources:
        for marker in sync_markers(source):
            marker.unlink()  # wandb's own marker: it must come from this sync
    command = [
        str(wandb_exe),
        "sync",
        "--include-synced",
        "--include-online",  # online folders (run-*) whose upload stopped short
        *(str(f.resolve()) for f in sources),
    ]
    try:
        done = subprocess.run(
            command,
            cwd=run.path,  # wandb writes its debug-cli log under ./wandb: keep it in the run
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SYNC_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise UserError(
            f"wandb sync of {run.name} took over {SYNC_TIMEOUT_S:.0f} s; "
            f"check the server at {base_url} and retry"
        ) from None
    missing = [f.name for f in sources if not sync_markers(f)]
    if done.returncode != 0 or missing:
        raise UserError(f"wandb sync of {run.name} failed: {_wandb_problem(done)}")


def _wandb_problem(done: subprocess.CompletedProcess) -> str:
    """wandb's own explanation, on one line, plus the fix users most often need."""
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    reason = (errors or lines or [f"exit code {done.returncode}"])[-1]
    reason = reason.removeprefix("wandb: ").removeprefix("ERROR ").removeprefix("Error: ")
    reason = reason.split(". Use `wandb login`")[0].rstrip(". ")
    if "api key" in reason.lower():
        return f"{reason}; set WANDB_API_KEY or run `wandb login`, then retry"
    return f"{reason}; check WANDB_BASE_URL and WANDB_API_KEY, then retry"


def _record_sync(
    run: LocalRun, uploaded: dict[str, dict[str, int]], base_url: str, exclude: list[str]
) -> None:
    """Written only after wandb sync succeeded for every folder; atomic replace, so a
    crash leaves the previous record (and the run shows as not synced)."""
    folders = {**read_sync_record(run).get("folders", {}), **uploaded}
    record = {
        "run_id": run.run_id,
        "synced_at": time.time(),
        "server": base_url,
        "folders": folders,
        "excluded": list(exclude),  # files left out (--exclude): the server lacks them
    }
    write_text_atomic(run.path / SYNC_FILE, json.dumps(record, indent=2) + "\n")
