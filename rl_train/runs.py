"""The local run store: find runs under --output-dir, read their state, export, sync, clean.

Everything here works without a network except `sync`, which hands the W&B folders to
the real `wandb sync` CLI. What was synced is recorded in <run_dir>/sync.json, written
atomically only after every folder of the run uploaded, so `list` and `clean --synced`
never trust a half-finished sync.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from rl_train.checkpoint import LATEST_FILE, list_checkpoints, write_text_atomic
from rl_train.errors import UserError
from rl_train.run_record import RECORD_FILE, RunRecord

SYNC_FILE = "sync.json"
SYNC_LOCK = ".sync.lock"
JOURNAL_FILE = "metrics.jsonl"  # rl_train.journal's name; not imported: it loads SB3
OFFLINE_PREFIX = "offline-run-"
SYNC_TIMEOUT_S = 3600.0
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# ---------------------------------------------------------------- finding runs


@dataclass
class LocalRun:
    """One run folder and its run.json, with what `list` and `show` need."""

    path: Path
    record: RunRecord

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def state(self) -> str:
        """The recorded state, except that a 'running' run whose process is gone crashed."""
        if self.record.state == "running" and not _process_alive(self.record):
            return "crashed"
        return self.record.state

    @property
    def last_active(self) -> float:
        """When the run last did something: its end, else its latest session start."""
        return self.record.ended_at or self.record.session_started or self.record.started_at

    def wandb_dirs(self) -> list[Path]:
        """The run's W&B folders that hold a transaction log, oldest first."""
        return _wandb_dirs(self.path, self.record)

    def offline_dirs(self) -> list[Path]:
        return [d for d in self.wandb_dirs() if d.name.startswith(OFFLINE_PREFIX)]


def _process_alive(record: RunRecord) -> bool:
    import psutil

    if record.pid <= 0 or not psutil.pid_exists(record.pid):
        return False
    try:
        # A recycled pid belongs to a process started after our session began.
        return psutil.Process(record.pid).create_time() <= record.session_started + 1.0
    except psutil.Error:
        return False


def _wandb_dirs(run_dir: Path, record: RunRecord) -> list[Path]:
    # run.json stores paths relative to where training ran; the folder names are what
    # stay true when the user runs `rl-train runs` from elsewhere or moves runs/.
    names = {Path(d).name for d in record.wandb_dirs}
    wandb_root = run_dir / "wandb"
    if wandb_root.is_dir():
        names.update(
            p.name
            for p in wandb_root.iterdir()
            if p.is_dir() and not p.is_symlink() and p.name.endswith(f"-{record.run_id}")
        )
    folders = [wandb_root / n for n in names if _has_log(wandb_root / n)]
    # Names are <kind>-run-YYYYMMDD_HHMMSS-<id>: sorting the part after "run-" is by time.
    return sorted(folders, key=lambda p: p.name.split("run-", 1)[-1])


def _has_log(folder: Path) -> bool:
    """A transaction log with more than its header: a run killed before W&B's first
    flush leaves an empty one, which holds nothing to export and makes `wandb sync` fail."""
    from rl_train.wandb_log import FILE_HEADER  # the module imports wandb only when reading

    return any(f.stat().st_size > FILE_HEADER.size for f in folder.glob("run-*.wandb"))


def load_run(path: Path) -> LocalRun | None:
    try:
        return LocalRun(path, RunRecord.load(path))
    except (OSError, ValueError, TypeError):
        return None


def find_runs(output_dir: Path) -> list[LocalRun]:
    """Every run folder (one holding run.json) under output_dir, oldest first."""
    if not output_dir.is_dir():
        raise UserError(f"no runs directory {output_dir}; pass --output-dir where your runs are")
    runs = [
        run
        for path in sorted(output_dir.iterdir())
        if path.is_dir() and (path / RECORD_FILE).is_file()
        for run in [load_run(path)]
        if run is not None
    ]
    return sorted(runs, key=lambda r: r.record.started_at)


def resolve_run(output_dir: Path, spec: str) -> LocalRun:
    """A run given as a path, a run name under output_dir, or a run id."""
    for path in (Path(spec), output_dir / spec):
        if (path / RECORD_FILE).is_file():
            run = load_run(path)
            if run is None:
                raise UserError(f"{path / RECORD_FILE} is unreadable; check or remove {path}")
            return run
    matches = [run for run in find_runs(output_dir) if run.run_id == spec]
    if not matches:
        raise UserError(
            f"no run {spec!r} under {output_dir} (by id, name or path); "
            f"see `rl-train runs list --output-dir {output_dir}`"
        )
    return matches[0]


def resolve_runs(output_dir: Path, specs: list[str]) -> list[LocalRun]:
    return [resolve_run(output_dir, spec) for spec in specs]


def dir_size(path: Path) -> int:
    """Bytes on disk under path; symlinks (wandb's latest-run) are not followed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we walked
    return total


def parse_age(text: str) -> float:
    """'2d', '12h', '30m', '45s', '1w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not match:
        raise UserError(f"age {text!r} is not understood; write it like 30m, 12h, 2d or 1w")
    return float(match.group(1)) * AGE_UNITS[match.group(2)]


def older_than(run: LocalRun, seconds: float, now: float | None = None) -> bool:
    return (now or time.time()) - run.last_active >= seconds


# ---------------------------------------------------------------- sync state


def _fingerprint(folder: Path) -> dict[str, int]:
    """Size and mtime of a folder's transaction log: any rewrite or append changes it."""
    log_file = next(folder.glob("run-*.wandb"))
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


# ---------------------------------------------------------------- summaries


def run_summary(run: LocalRun) -> dict[str, Any]:
    """What `list` shows of a run, as plain data (also `list --json`)."""
    record = run.record
    status = sync_status(run)
    return {
        "run_id": run.run_id,
        "name": run.name,
        "path": str(run.path),
        "env_id": record.env_id,
        "state": run.state,
        "recorded_state": record.state,
        "steps": record.steps,
        "total_timesteps": record.total_timesteps,
        "success_rate": _last_success(record),
        "size_bytes": dir_size(run.path),
        "sync_status": status,
        "synced": status in ("synced", "online"),
        "synced_at": read_sync_record(run).get("synced_at"),
        "wandb_mode": record.wandb_mode,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "wandb_dirs": [str(d) for d in run.wandb_dirs()],
    }


def _last_success(record: RunRecord) -> float | None:
    # The final evaluation when there was one, else the last rollouts' success rate.
    if record.success_rate is not None:
        return record.success_rate
    return record.rollout_success_rate


def read_config(run: LocalRun) -> dict[str, Any]:
    try:
        data = yaml.safe_load((run.path / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class CheckpointInfo:
    step: int
    path: Path
    size_bytes: int
    latest: bool


def checkpoints(run: LocalRun) -> list[CheckpointInfo]:
    root = run.path / "checkpoints"
    try:
        latest = (root / LATEST_FILE).read_text().strip()
    except OSError:
        latest = ""
    return [
        CheckpointInfo(int(p.name), p, dir_size(p), p.name == latest)
        for p in list_checkpoints(root)
    ]


# ---------------------------------------------------------------- history


@dataclass
class History:
    """A run's W&B data merged over all its folders: one row per global step."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return any("cut short" in w for w in self.warnings)

    def keys(self) -> list[str]:
        """Metric keys, `_step` first, W&B's own `_` keys last."""
        found = {key for row in self.rows for key in row} - {"_step"}
        return ["_step", *sorted(found, key=lambda k: (k.startswith("_"), k))]

    def series(self, key: str) -> tuple[list[int], list[float]]:
        points = [(r["_step"], r[key]) for r in self.rows if _is_number(r.get(key))]
        return [s for s, _ in points], [float(v) for _, v in points]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_history(run: LocalRun) -> History:
    """Replay the run's `.wandb` logs oldest first; a later folder wins a step (a resume
    re-logs from its checkpoint). Without W&B data, fall back to metrics.jsonl."""
    from rl_train import wandb_log

    history = History()
    by_step: dict[int, dict[str, Any]] = {}
    for folder in run.wandb_dirs():
        for log_file in sorted(folder.glob("run-*.wandb")):
            try:
                log = wandb_log.read_run(log_file)
            except (wandb_log.TransactionLogError, OSError) as exc:
                history.warnings.append(f"{log_file} skipped: {exc}")
                continue
            history.sources.append(str(log_file))
            for row in log.history:
                by_step.setdefault(int(row.get("_step", -1)), {}).update(row)
            history.config.update(log.config)
            history.summary.update(log.summary)
            history.files.extend(f for f in log.files if f not in history.files)
            if log.truncated:
                history.warnings.append(
                    f"{log_file.name} is cut short ({log.problem}); exported the "
                    f"{len(log.history)} complete rows before the cut"
                )
    if not history.sources:
        _history_from_journal(run, history, by_step)
    history.rows = [{"_step": step, **row} for step, row in sorted(by_step.items())]
    history.config.pop("_wandb", None)  # W&B's own bookkeeping, not the run's config
    return history


def _history_from_journal(run: LocalRun, history: History, by_step: dict) -> None:
    journal = run.path / JOURNAL_FILE
    if not journal.exists():
        history.warnings.append(f"{run.name} has no W&B log and no {JOURNAL_FILE}")
        return
    for line in journal.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        by_step.setdefault(int(row.get("_step", -1)), {}).update(row)
    history.sources.append(str(journal))
    history.config.update(read_config(run))
    history.warnings.append(f"{run.name} has no W&B log; exported {JOURNAL_FILE}")


def export(run: LocalRun, history: History, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        document = {
            "run_id": run.run_id,
            "name": run.name,
            "state": run.state,
            "truncated": history.truncated,
            "warnings": history.warnings,
            "sources": history.sources,
            "config": history.config,
            "summary": history.summary,
            "history": history.rows,
        }
        json.dump(document, out, indent=1, default=str)
        out.write("\n")
        return
    keys = history.keys()
    writer = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history.rows:
        # Histograms and other structured values become JSON text in their cell.
        writer.writerow({k: _csv_cell(row.get(k)) for k in keys})


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else value


# ---------------------------------------------------------------- sync


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
    state = run.state
    if state == "running":
        return "still running; sync it when it ends"
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


class _SyncLock:
    """One sync per run at a time: two would both upload and race on sync.json."""

    def __init__(self, run: LocalRun) -> None:
        self.path = run.path / SYNC_LOCK
        self.run = run
        self.file: Any = None

    def __enter__(self) -> _SyncLock:
        self.file = open(self.path, "w")  # noqa: SIM115 (closed in __exit__)
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise UserError(
                f"another sync of {self.run.name} is running; wait for it to finish"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def sync_run(plan: SyncPlan, wandb_exe: Path, base_url: str) -> None:
    """Upload the run's pending folders in one `wandb sync` call, oldest first (W&B then
    appends them to one run: they share the run id), then record them as synced."""
    run, folders = plan.run, plan.folders
    with _SyncLock(run):
        # Taken before the upload: a log that grows meanwhile then shows as not synced.
        uploaded = {f.name: _fingerprint(f) for f in folders}
        for folder in folders:
            for marker in folder.glob("run-*.wandb.synced"):
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
        missing = [f.name for f in folders if not any(f.glob("run-*.wandb.synced"))]
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


# ---------------------------------------------------------------- clean


@dataclass
class CleanChoice:
    run: LocalRun
    size_bytes: int
    refused: str = ""  # why it is kept although it matched


def choose_for_clean(
    runs: list[LocalRun],
    synced: bool,
    crashed: bool,
    min_age_s: float | None,
    force: bool,
) -> list[CleanChoice]:
    """Runs that match every filter given; unsynced or live ones are kept unless forced."""
    now = time.time()
    chosen = []
    for run in runs:
        if synced and sync_status(run) not in ("synced", "online"):
            continue
        if crashed and run.state != "crashed":
            continue
        if min_age_s is not None and not older_than(run, min_age_s, now):
            continue
        chosen.append(CleanChoice(run, dir_size(run.path), _keep_reason(run, force)))
    return chosen


def _keep_reason(run: LocalRun, force: bool) -> str:
    if run.state == "running":
        return "still running"  # never, not even with --force: training writes there
    if force:
        return ""
    status = sync_status(run)
    if status in ("synced", "online"):
        return ""
    what = "no W&B data to sync" if status == "local" else "not synced"
    return f"{what}; pass --force to delete it anyway"


def delete_run(run: LocalRun) -> None:
    shutil.rmtree(run.path)


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def iter_tb_dirs(runs: list[LocalRun]) -> Iterator[tuple[str, Path]]:
    for run in runs:
        if (run.path / "tb").is_dir():
            yield run.name, run.path / "tb"
