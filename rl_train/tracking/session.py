"""What a training session sets up before torch is imported: its run dir, its run record
and the start of its W&B run.

The CLI calls begin_fresh / begin_resume before importing the trainer, so that the
logging process imports wandb and runs wandb.init while this process imports torch and
SB3, instead of after it. Keep this module's imports light: nothing here may pull in
torch (tests/test_import_rules.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rl_train.config.train_config import TrainConfig, write_config
from rl_train.errors import UserError
from rl_train.store.layout import CHECKPOINTS_DIR
from rl_train.store.record import RunRecord
from rl_train.tracking.client import BackgroundStart
from rl_train.tracking.server import check_server_reachable, server_url


@dataclass
class Session:
    config: TrainConfig
    record: RunRecord
    tracker_start: BackgroundStart  # the W&B run starting in its logging process


def prepare_run_dir(config: TrainConfig) -> Path:
    run_dir = config.run_dir
    try:
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UserError(
                f"run dir {run_dir} already exists; choose another --run-name, "
                f"or continue it with --resume {run_dir}"
            )
        (run_dir / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)
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
    return run_dir


def begin_fresh(config: TrainConfig) -> Session:
    """A new run: its dir (which must not hold another run) and config, then W&B."""
    if config.wandb_mode == "online":  # fail before anything is written
        check_server_reachable(server_url())
    prepare_run_dir(config)
    write_config(config)
    return _begin(config, resuming=False)


def begin_resume(config: TrainConfig) -> Session:
    """A run continued from its checkpoint: the same W&B run id, resumed."""
    if config.wandb_mode == "online":
        check_server_reachable(server_url())
    write_config(config)
    return _begin(config, resuming=True)


def _begin(config: TrainConfig, resuming: bool) -> Session:
    record = RunRecord.load_or_new(config.run_dir, config)
    tracker_start = BackgroundStart(
        config.wandb_mode,
        record.run_id,
        config.run_dir,
        config.wandb_project,
        config.wandb_entity,
        config.run_name,
        config.to_dict(),
        resuming=resuming,
    )
    return Session(config, record, tracker_start)
