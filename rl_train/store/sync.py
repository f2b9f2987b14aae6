"""`rl-train runs sync`: what of a run is uploaded, and uploading the rest with `wandb sync`.

The W&B folders are handed to the real `wandb sync` CLI. What was synced is recorded in
<run_dir>/sync.json, written atomically only after every folder of the run uploaded, so
`list` and `clean --synced` never trust a half-finished sync.
"""

from __future__ import annotations

import json
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

SYNC_TIMEOUT_S = 3600.0
SYNC_BUSY = "sync it when it ends"


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


def unsynced_dirs(run: LocalRun) -> list[Path]:
    """The offline folders still to upload: from the first one that is new or changed
    since the last sync through the newest, so the server gets the history in order."""
    synced = read_sync_record(run).get("folders", {})
    folders = run.offline_dirs()
    for index, folder in enumerate(folders):
        if synced.get(folder.name) != _fingerprint(folder):
            return folders[index:]
    return []


def sync_status(run: LocalRun) -> str:
    """synced | partly (new data since the last sync) | no | online | local (no W&B data)."""
    folders = run.wandb_dirs()
    if not folders:
        return "local"
    if not run.offline_dirs():
        return "online"
    pending = unsynced_dirs(run)
    if not pending:
        return "synced"
    return "partly" if read_sync_record(run).get("folders") else "no"


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


def plan_sync(runs: list[LocalRun], finished_only: bool, min_age_s: float | None) -> list[SyncPlan]:
    plans = []
    for run in runs:
        plans.append(SyncPlan(run, unsynced_dirs(run), _skip_reason(run, finished_only, min_age_s)))
    return plans


def _skip_reason(run: LocalRun, finished_only: bool, min_age_s: float | None) -> str:
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
    if not run.offline_dirs():
        return "online run, already on the server"
    if not unsynced_dirs(run):
        return "already synced"
    return ""


def sync_run(plan: SyncPlan, wandb_exe: Path, base_url: str) -> None:
    """Upload the run's pending folders in one `wandb sync` call, oldest first (W&B then
    appends them to one run: they share the run id), then record them as synced."""
    run, folders = plan.run, plan.folders
    # The run's own lock: no training session, clean or second sync meanwhile.
    with RunLock.acquire(run.path, "sync", SYNC_BUSY):
        # Taken before the upload: a log that grows meanwhile then shows as not synced.
        uploaded = {f.name: _fingerprint(f) for f in folders}
        for folder in folders:
            for marker in sync_markers(folder):
                marker.unlink()  # wandb's own marker: it must come from this sync
        command = [str(wandb_exe), "sync", "--include-synced", *(str(f.resolve()) for f in folders)]
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
        missing = [f.name for f in folders if not sync_markers(f)]
        if done.returncode != 0 or missing:
            raise UserError(f"wandb sync of {run.name} failed: {_wandb_problem(done)}")
        _record_sync(run, uploaded, base_url)


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


def _record_sync(run: LocalRun, uploaded: dict[str, dict[str, int]], base_url: str) -> None:
    """Written only after wandb sync succeeded for every folder; atomic replace, so a
    crash leaves the previous record (and the run shows as not synced)."""
    folders = {**read_sync_record(run).get("folders", {}), **uploaded}
    record = {
        "run_id": run.run_id,
        "synced_at": time.time(),
        "server": base_url,
        "folders": folders,
    }
    write_text_atomic(run.path / SYNC_FILE, json.dumps(record, indent=2) + "\n")
