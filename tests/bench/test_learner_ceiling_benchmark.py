"""benchmarks/learner_ceiling.py on a short real run: the four learners timed part by part
in fresh processes, the ceiling and the projection written; never the numbers themselves."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, cli_env


@pytest.mark.slow
def test_the_learner_benchmark_times_every_learner_part_by_part(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "learner_ceiling.py"), "--quick",
         "--n-envs", "16", "--iterations", "3", "--output-prefix", str(tmp_path / "lc")],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "lc.json").read_text())
    assert {(r["learner"], r["shape"], r["n_envs"]) for r in document["rows"]} == {
        ("stock", "reach", 16),
        ("rl-train-sb3", "reach", 16),
        ("rl-train", "reach", 16),
        ("rl-train-all-cores", "reach", 16),
    }
    for run in document["runs"]:
        # Two iterations after the first, each a rollout of 16 envs x 64 steps.
        assert run["steps"] == 2 * 16 * 64 and run["iterations"] == 2
        seconds = run["seconds"]
        assert seconds["update"][0] > 0 and seconds["acting"][0] > 0 and seconds["env"][0] > 0
        inside = sum(seconds[p][0] for p in ("acting", "env", "wrappers", "buffer", "callbacks"))
        assert inside <= seconds["rollout"][0] + 1e-6
        assert run["ceiling"] == pytest.approx(
            run["steps"] / (seconds["rollout"][0] + seconds["update"][0] - seconds["env"][0])
        )
    for learner in ("rl-train", "rl-train-sb3", "rl-train-all-cores"):
        mine = next(r for r in document["runs"] if r["learner"] == learner)
        assert mine["seconds"]["callbacks"][0] > 0  # the trainer's own callbacks ran
    cores = {p["cores"] for p in document["projection"]}
    assert cores == {2, 16, 32, 64}
    for p in document["projection"]:
        assert p["ppo_steps_per_s"] <= p["ppo_steps_per_s_threaded"] < p["limit"]
    text = (tmp_path / "lc.md").read_text()
    for learner in ("stock", "rl-train-sb3", "rl-train", "rl-train-all-cores"):
        assert f"| reach | {learner} | 16 |" in text
    assert (tmp_path / "lc.png").stat().st_size > 10_000


def test_the_committed_result_re_renders_to_its_committed_report(tmp_path):
    committed = REPO / "benchmarks" / "results" / "learner_ceiling"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "learner_ceiling.py"),
         "--from-json", f"{committed}.json", "--output-prefix", str(tmp_path / "lc")],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "lc.md").read_text() == committed.with_suffix(".md").read_text()
