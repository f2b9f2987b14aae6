"""Shared test helpers: run the real `rl-train` CLI, find its outputs, reach the W&B server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is scripts, not a package; they import
    their shared benchmarks/harness.py as a script run would)."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.append(str(REPO / "benchmarks"))
    module_name = f"{name}_benchmark"  # not to shadow a module of that name
    spec = importlib.util.spec_from_file_location(module_name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the module look themselves up here
    spec.loader.exec_module(module)
    return module


def cli_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("WANDB_MODE", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("WANDB_SILENT", "true")
    env.update(overrides)
    return env


def run_cli(
    args: list[str],
    cwd: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """The real command line, in a subprocess, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "rl_train.cli", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_python(code: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh interpreter with the CLI's environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_run_dir(output_dir: Path) -> Path:
    runs = [p for p in output_dir.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def wandb_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob("wandb/*run-*/run-*.wandb"))


def finished_offline_run(cwd: Path, args: list[str]):
    """A real offline run under cwd/runs that must succeed: (process, run dir, its W&B log)."""
    from rl_train.store import wandb_txlog

    done = run_cli([*args, "--wandb-mode", "offline", "--output-dir", "runs"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(cwd / "runs")
    (log_file,) = wandb_files(run_dir)
    return done, run_dir, wandb_txlog.read_run(log_file)


@pytest.fixture
def wandb_server() -> str:
    """The W&B-protocol server CI starts on loopback; skipped locally without one."""
    base_url = os.environ.get("WANDB_BASE_URL", "")
    required = os.environ.get("RL_TRAIN_REQUIRE_ONLINE") == "1"
    if not base_url or not os.environ.get("WANDB_API_KEY"):
        if required:
            pytest.fail("RL_TRAIN_REQUIRE_ONLINE=1 but WANDB_BASE_URL/WANDB_API_KEY are unset")
        pytest.skip("no W&B server configured (set WANDB_BASE_URL and WANDB_API_KEY)")
    return base_url.rstrip("/")


def server_get(base_url: str, path: str) -> dict:
    """Read the server's REST API (openwandb's, which CI runs)."""
    with urllib.request.urlopen(f"{base_url}{path}", timeout=10) as response:
        return json.load(response)
