"""How a training session ends: its state, exit code, the disk-full message and the summary."""

from __future__ import annotations

import errno
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from rl_train.store import checkpoint
from rl_train.store.layout import CHECKPOINTS_DIR, TB_DIR
from rl_train.store.record import RunRecord
from rl_train.store.sync import sync_command
from rl_train.units import format_duration

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
# Interrupted runs exit as a shell reports the signal: 128 + its number.
SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
STATE_EXIT_CODES = {"finished": 0, "crashed": 1, "aborted": 130}


@dataclass
class TrainResult:
    exit_code: int
    state: str
    run_dir: Path
    steps: int
    success_rate: float | None = None
    message: str = ""  # the error line printed, if any


def exit_code(state: str, signum: int | None) -> int:
    if state == "interrupted":
        return SIGNAL_EXIT_CODES.get(signum or signal.SIGINT, 1)
    return STATE_EXIT_CODES.get(state, 1)


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in DISK_FULL_ERRNOS


def disk_full_message(exc: OSError, run_dir: Path) -> str:
    where = f" writing {exc.filename}" if exc.filename else ""
    return (
        f"the disk is full ({exc.strerror}{where}); the last complete checkpoint is kept: "
        f"free space (e.g. `rl-train runs clean`) and continue with "
        f"`rl-train --resume {run_dir}`"
    )


def summary_lines(
    record: RunRecord,
    state: str,
    total_timesteps: int,
    run_dir: Path,
    wandb_mode: str,
    success: float | None,
    upload_complete: bool = True,
) -> list[str]:
    """What the session did and where its data is, for the terminal."""
    elapsed = time.time() - record.session_started
    rate = (record.steps - record.session_start_step) / elapsed if elapsed > 0 else 0
    success_text = f", test success {success:.0%}" if success is not None else ""
    lines = [
        f"run {state}: {record.steps:,}/{total_timesteps:,} steps in "
        f"{format_duration(elapsed)} ({rate:,.0f} steps/s){success_text}",
        f"  run dir:      {run_dir}",
    ]
    latest, _ = checkpoint.find_latest_valid(run_dir / CHECKPOINTS_DIR)
    if latest is not None:
        lines.append(f"  checkpoint:   {latest.path}")
    where = "" if run_dir.parent == Path("runs") else f" --output-dir {run_dir.parent}"
    best = run_dir / CHECKPOINTS_DIR / checkpoint.BEST_DIR
    try:
        meta = checkpoint.load_meta(best)
        tested = (meta.get(checkpoint.TEST_KEY) or {}).get("success_rate")
        score = f"; test success {tested:.0%}" if tested is not None else ""
        lines.append(
            f"  best:         {best} (step {meta['step']:,}{score}; "
            f"rl-train eval {run_dir.name}{where})"
        )
    except checkpoint.CheckpointError:
        pass  # no evaluation kept one
    lines.append(f"  tensorboard:  tensorboard --logdir {run_dir / TB_DIR}")
    wandb_dirs = record.wandb_dirs
    # `rl-train runs sync` uploads every W&B folder of the run, in order, and the part of
    # an online one the server did not get.
    if wandb_dirs and wandb_mode == "offline":
        lines.append(f"  W&B offline:  {wandb_dirs[-1]}")
        lines.append(f"  sync with:    {sync_command(run_dir)}")
    elif wandb_dirs:
        lines.append(f"  W&B run:      {wandb_dirs[-1]}")
        if not upload_complete:
            lines.append(f"  sync with:    {sync_command(run_dir)} (not fully uploaded)")
    if state in ("interrupted", "crashed") and latest is not None:
        lines.append(f"  resume with:  rl-train --resume {run_dir}")
    return lines
