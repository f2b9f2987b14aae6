"""What the benchmark scripts share: where results go, the real `rl-train` command, the
environment its processes run in, and the machine they ran on.

Light on purpose (standard library and rl-train's light modules): a benchmark's own
process must not bring torch along, or it would compete with what it measures.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# A benchmark decides the W&B mode and server of each run itself.
WANDB_VARS = ("WANDB_MODE", "WANDB_BASE_URL", "WANDB_API_KEY", "WANDB_DIR")


def child_env(one_thread: bool = False) -> dict[str, str]:
    """The environment of a measured process: this checkout importable, wandb quiet and
    unconfigured, and (one_thread) numerical libraries held to one thread."""
    env = dict(os.environ)
    for key in WANDB_VARS:
        env.pop(key, None)
    env["WANDB_SILENT"] = "true"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if one_thread:
        env.update(dict.fromkeys(THREAD_VARS, "1"))
    return env


def rl_train_command(*args: str) -> list[str]:
    """The real command line, as `rl-train ARGS` runs it, in this interpreter."""
    return [sys.executable, "-m", "rl_train.cli", *args]


def shipped_n_steps(env_id: str = "default") -> int:
    """n_steps per env of the shipped hyperparameters (rl_train/config/ppo.yml)."""
    from rl_train.config import hyperparams

    return int(hyperparams.value(hyperparams.shipped(env_id), "n_steps"))
