"""The names inside a run directory: one place, so every reader and writer agrees.

<output-dir>/<run-name>/
    config.yaml        the resolved TrainConfig (config/train_config.py)
    run.json           the run record: id, state, steps, sessions (store/record.py)
    metrics.jsonl      every SB3 logger dump, one JSON line each (store/journal.py)
    checkpoints/       <step>/{model.zip, vecnormalize.pkl, state.pkl, meta.json},
                       best/ (the best policy by evaluation), best-history/<step>/ (bests
                       a kept checkpoint names), set-aside/<time>/ (what a resume from an
                       older checkpoint moved out of the way) (store/checkpoint.py)
    code/              the code snapshot and its manifest.json of checksums (store/snapshot.py)
    tb/                TensorBoard event files
    videos/            eval-<step>.mp4 of the evaluations (--eval-video)
    wandb/             W&B's run folders: offline-run-*/ or run-*/, each with run-<id>.wandb
    sync.json          what `rl-train runs sync` uploaded (store/sync.py)
    .lock              held by the one process writing the run (store/lock.py)
"""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.yaml"
RECORD_FILE = "run.json"
JOURNAL_FILE = "metrics.jsonl"
CHECKPOINTS_DIR = "checkpoints"
CODE_DIR = "code"
TB_DIR = "tb"
VIDEOS_DIR = "videos"
WANDB_DIR = "wandb"
SYNC_FILE = "sync.json"
LOCK_FILE = ".lock"
OFFLINE_PREFIX = "offline-run-"  # W&B's name for an offline run folder


def is_run_dir(path: Path) -> bool:
    """A folder rl-train made for a run (config written, checkpoints folder created)."""
    return (path / CONFIG_FILE).is_file() and (path / CHECKPOINTS_DIR).is_dir()


def wandb_logs(folder: Path) -> list[Path]:
    """The transaction log(s) of one W&B run folder: run-<id>.wandb (not its .bak or .synced)."""
    return sorted(folder.glob("run-*.wandb"))


def sync_markers(folder: Path) -> list[Path]:
    """`wandb sync`'s own marker of a folder it uploaded: run-<id>.wandb.synced."""
    return sorted(folder.glob("run-*.wandb.synced"))
