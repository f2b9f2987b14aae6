"""The shipped defaults learn: PPO reaches >= 95% success on reach (slow: minutes)."""

from __future__ import annotations

import json

import pytest
from conftest import only_run_dir, run_cli


@pytest.mark.slow
@pytest.mark.parametrize("env_flags", [[], ["--use-simple-env"]], ids=["pybullet", "simple"])
def test_shipped_defaults_reach_95_percent_success(tmp_path, env_flags):
    done = run_cli(
        [*env_flags, "--wandb-mode", "disabled", "--output-dir", "runs"],
        cwd=tmp_path,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads((only_run_dir(tmp_path / "runs") / "run.json").read_text())
    assert record["state"] == "finished"
    # Deterministic evaluation over 50 fresh episodes after training.
    assert record["success_rate"] >= 0.95, record
