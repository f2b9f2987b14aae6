"""What a training session sets up before torch is imported: its run dir, its run record
and the start of its W&B run.

The CLI calls begin_fresh / begin_resume before importing the trainer, so that the
logging process imports wandb and runs wandb.init while this process imports torch and
SB3, instead of after it. Keep this module's imports light: nothing here may pull in
torch (tests/test_import_rules.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rl_train.config.train_config import TrainConfig, write_config
from rl_train.errors import UserError
from rl_train.store import lock
from rl_train.store.layout import CHECKPOINTS_DIR, LOCK_FILE
from rl_train.store.lock import RunInUse, RunLock
from rl_train.store.record import RunRecord
from rl_train.store.sync import sync_command
from rl_train.tracking.client import BackgroundStart
from rl_train.tracking.server import check_server_reachable, server_problem, server_url

# What to do when another process holds the run, for the one-line refusal.
FRESH_RUN_BUSY = "choose another --run-name, or wait until it ends"
RESUME_BUSY = (
    "wait until it ends, or stop it first (Ctrl-C in its terminal, or kill -TERM {pid}); "
    "then --resume it"
)


@dataclass
class Session:
    config: TrainConfig
    record: RunRecord
    tracker_start: BackgroundStart  # the W&B run starting in its logging process
    lock: RunLock  # held for the whole session: no other process writes the run
    resuming: bool = False
    wandb_mode: str = "offline"  # what this session runs: config's, with auto decided


def session_wandb_mode(config: TrainConfig) -> str:
    """online with no server is an error (before anything is written); auto becomes online
    when the server answers, else offline, said in one line with the later upload."""
    if config.wandb_mode == "online":
        check_server_reachable(server_url())
    if config.wandb_mode != "auto":
        return config.wandb_mode
    base_url = server_url()
    reason = server_problem(base_url)
    if reason is None:
        return "online"
    print(
        f"rl-train: W&B server {base_url} is not reachable ({reason}); training offline "
        f"(--wandb-mode auto): upload later with `{sync_command(config.run_dir)}`",
        file=sys.stderr,
        flush=True,
    )
    return "offline"


def _holds_other_files(run_dir: Path) -> bool:
    return any(p.name != LOCK_FILE for p in run_dir.iterdir())


def _already_exists(run_dir: Path) -> UserError:
    return UserError(
        f"run dir {run_dir} already exists; choose another --run-name, "
        f"or continue it with --resume {run_dir}"
    )


def prepare_run_dir(config: TrainConfig) -> RunLock:
    """Create and lock a new run's dir; refuse one that holds another run (or is in use)."""
    run_dir = config.run_dir
    try:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        if run_dir.exists():
            busy = lock.holder(run_dir)
            if busy is not None:
                raise RunInUse(run_dir, busy, FRESH_RUN_BUSY)
            if _holds_other_files(run_dir):
                raise _already_exists(run_dir)
        run_dir.mkdir(exist_ok=True)
        run_lock = RunLock.acquire(run_dir, "training", FRESH_RUN_BUSY)
        if _holds_other_files(run_dir):  # another new run got here between look and lock
            run_lock.release()
            raise _already_exists(run_dir)
        (run_dir / CHECKPOINTS_DIR).mkdir(exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except PermissionError:
        raise UserError(
            f"cannot write to output dir {config.output_dir} (permission denied); "
            "pass --output-dir a writable directory"
        ) from None
    except OSError as exc:
        raise UserError(
            f"cannot write to output dir {config.output_dir} ({exc.strerror}); "
            "pass --output-dir a writable directory with free space"
        ) from None
    return run_lock


def lock_for_resume(run_dir: Path) -> RunLock:
    """The run's lock, before the resume plan reads its checkpoints: a run still training
    (or being synced or cleaned) is refused, and nothing of it is touched."""
    return RunLock.acquire(run_dir, "training", RESUME_BUSY)


def begin_fresh(config: TrainConfig) -> Session:
    """A new run: its dir (which must not hold another run) and config, then W&B."""
    mode = session_wandb_mode(config)  # fails before anything is written
    run_lock = prepare_run_dir(config)
    try:
        write_config(config)
        return _begin(config, run_lock, mode, resuming=False)
    except BaseException:
        run_lock.release()
        raise


def begin_resume(config: TrainConfig, run_lock: RunLock) -> Session:
    """A run continued from its checkpoint (or from step 0 when it has none): the same run
    id and W&B run, resumed. `run_lock` is the run's, from lock_for_resume."""
    try:
        mode = session_wandb_mode(config)
        write_config(config)
        return _begin(config, run_lock, mode, resuming=True)
    except BaseException:
        run_lock.release()
        raise


def _begin(config: TrainConfig, run_lock: RunLock, mode: str, resuming: bool) -> Session:
    record = RunRecord.load_or_new(config.run_dir, config)
    tracker_start = BackgroundStart(
        mode,
        record.run_id,
        config.run_dir,
        config.wandb_project,
        config.wandb_entity,
        config.run_name,
        config.to_dict(),
        resuming=resuming,
        group=config.wandb_group,
        finish_timeout=config.wandb_finish_timeout,
    )
    return Session(config, record, tracker_start, run_lock, resuming, mode)
