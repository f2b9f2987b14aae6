"""Run folders as rl-train leaves them (config, run record, checkpoints), without training:
for in-process tests of the resume plan and the run store."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rl_train.config.train_config import TrainConfig, write_config
from rl_train.store import checkpoint
from rl_train.store.layout import CHECKPOINTS_DIR
from rl_train.store.record import RunRecord
from rl_train.training.entry import resolve_config as resolve


def fake_run(
    output_dir: Path,
    name: str,
    steps: tuple[int, ...] = (1024,),
    state: str = "interrupted",
    started_at: float | None = None,
    pid: int = 0,
    **config_fields,
) -> Path:
    """A run of the kinematic reach under output_dir/name with checkpoints at `steps`."""
    fields = {"use_simple_env": True, "vec_env": "native", "n_envs": 4, "total_timesteps": 4096}
    config = TrainConfig(run_name=name, output_dir=str(output_dir), **{**fields, **config_fields})
    resolve(config)
    run_dir = config.run_dir
    (run_dir / CHECKPOINTS_DIR).mkdir(parents=True)
    write_config(config)
    record = RunRecord.load_or_new(run_dir, config)
    record.state, record.pid = state, pid
    record.steps = max(steps, default=0)
    record.started_at = record.session_started = started_at or time.time()
    record.save()
    for step in steps:
        add_checkpoint(run_dir, step, config.env_id)
    return run_dir


def add_checkpoint(run_dir: Path, step: int, env_id: str) -> Path:
    root = run_dir / CHECKPOINTS_DIR
    tmp = checkpoint.new_tmp_dir(root, step)
    (tmp / checkpoint.MODEL_FILE).write_bytes(os.urandom(64))
    return checkpoint.commit_checkpoint(tmp, root, step, {"env_id": env_id, "algo": "PPO"})
