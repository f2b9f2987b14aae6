"""benchmarks/pick_and_place_breakdown.py on a short real pick-and-place run: the run's test
episodes, every goal band counted once, and the columns that say why an episode failed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, cli_env, run_cli


@pytest.mark.slow  # a PyBullet pick-and-place run
def test_the_breakdown_plays_the_runs_test_episodes_and_says_why_they_fail(tmp_path):
    trained = run_cli(
        ["--env", "pick_and_place", "--seed", "3", "--n-envs", "2", "--total-timesteps", "128",
         "--hyperparams", "n_steps=32", "batch_size=64", "--wandb-mode", "disabled",
         "--eval-freq", "0", "--run-name", "pnp", "--output-dir", "runs"],
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "pick_and_place_breakdown.py"), "pnp",
         "--episodes", "6", "--output-dir", str(tmp_path / "runs")],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].endswith("6 deterministic episodes from seed 2,000,003")  # seed 3's test
    header = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert header[5:7] == ["reached the goal", "held at the end"]
    rows = {cells[0]: cells for cells in
            ([c.strip() for c in line.strip("|").split("|")] for line in lines[3:])}  # fmt: skip
    assert sum(int(cells[1]) for name, cells in rows.items() if name != "all") == 6
    assert rows["all"][1] == "6"
    for cells in rows.values():  # a success is an episode that reached the goal
        assert float(cells[5].rstrip("%")) >= float(cells[2].rstrip("%"))
    # The same episodes as `rl-train eval` on one env: the same success.
    evaluated = run_cli(
        ["eval", "pnp", "--episodes", "6", "--n-envs", "1", "--json", "--output-dir", "runs"],
        cwd=tmp_path,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert rows["all"][2] == f"{json.loads(evaluated.stdout)['success_rate']:.1%}"
