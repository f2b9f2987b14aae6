"""The real `rl-train` command as a benchmark runs it, the environment of its processes, and
what its run.json says of where its time went."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
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


def script_command(script: str, argv: list[str] | None = None) -> str:
    """How a result says it was made: `python benchmarks/SCRIPT ARGS`."""
    return shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)])


def shipped_n_steps(env_id: str = "default") -> int:
    """n_steps per env of the shipped hyperparameters (rl_train/config/ppo.yml)."""
    from rl_train.config import hyperparams

    return int(hyperparams.value(hyperparams.shipped(env_id), "n_steps"))


def reexec_in_project_venv(script: str) -> None:
    """`python benchmarks/SCRIPT` from a plain python: use the project's .venv instead."""
    try:
        import psutil  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        venv_python = REPO / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (REPO / ".venv").resolve()
        if venv_python.exists() and not in_venv:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        sys.exit(f"{script}: needs the project's packages; run `make setup` first")


def reach_run_command(env: str, workdir: Path, name: str, flags: list[str]) -> list[str]:
    """The real `rl-train` for one benchmark run of a reach env ("reach" or "simple"):
    W&B disabled, only the final checkpoint, the run in workdir/name."""
    return rl_train_command(
        "--env",
        "reach",
        *(["--use-simple-env"] if env == "simple" else []),
        *flags,
        "--checkpoint-freq",
        "0",
        "--wandb-mode",
        "disabled",
        "--output-dir",
        str(workdir),
        "--run-name",
        name,
    )


def update_share_of(timings: dict[str, Any]) -> float | None:
    """PPO update time over rollout + update time, from a run's run.json timings."""
    rollout, update = timings["rollout_s_total"], timings["update_s_total"]
    return update / (rollout + update) if rollout + update > 0 else None
