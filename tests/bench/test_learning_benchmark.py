"""benchmarks/learning.py on short real runs of the PyBullet reach: it trains, survives a stop
(SIGTERM) by resuming, on this checkout or a fresh one (the stopped run packed, the finished
ones kept in the report), scores final and best on test episodes, and reports per seed and
pooled with Wilson intervals. Nothing here is a learning result: the runs are too short."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, cli_env, load_benchmark

from rl_train.evaluation.stats import wilson_interval
from rl_train.machine import describe

BENCHMARK = REPO / "benchmarks" / "learning.py"
STEPS = 4096


def learning(tmp_path, *args: str) -> list[str]:
    return [
        sys.executable, str(BENCHMARK), "--tasks", "reach", "--total-timesteps", str(STEPS),
        "--episodes", "10", "--runs-dir", str(tmp_path / "runs"),
        "--output-prefix", str(tmp_path / "learning"), "--packed-dir", str(tmp_path / "packed"),
        *args,
    ]  # fmt: skip


def run_learning(tmp_path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        learning(tmp_path, "--seeds", "0", "1"),
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow  # three short training runs and 40 evaluation episodes: CI's slow suite
def test_learning_resumes_a_stopped_run_on_a_fresh_checkout_and_reports_each_seed(tmp_path):
    first = subprocess.Popen(
        learning(tmp_path, "--seeds", "0", "1"),
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    journal = tmp_path / "runs" / "reach-s0" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (journal.is_file() and journal.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)  # the run stops at its next rollout start, saved
    out, err = first.communicate(timeout=120)
    assert first.returncode != 0 and "run again to resume it" in err, out + err
    record = json.loads((tmp_path / "runs" / "reach-s0" / "run.json").read_text())
    assert record["state"] == "interrupted" and 0 < record["steps"] < STEPS
    archive = tmp_path / "packed" / "reach-s0.tar.gz"
    assert str(archive) in err and archive.stat().st_size > 10_000
    shutil.rmtree(tmp_path / "runs")  # a fresh checkout: only what git carries is there

    done = run_learning(tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "unpacking" in done.stdout and "resuming" in done.stdout and "reach-s1" in done.stdout
    resumed = json.loads((tmp_path / "runs" / "reach-s0" / "run.json").read_text())
    assert resumed["run_id"] == record["run_id"] and resumed["sessions"] == 2
    assert resumed["resumed_exactly"] is True
    assert not archive.exists()  # scored in the report: the packed state is gone
    document = json.loads((tmp_path / "learning.reach.json").read_text())
    assert [r["seed"] for r in document["seeds"]] == [0, 1]
    for result in document["seeds"]:
        assert result["state"] == "finished" and result["steps"] == STEPS
        assert result["trained_on"] == describe()  # both sessions of seed 0 here, merged
        for which in ("latest", "best"):
            scored = result[which]
            assert scored["episodes"] == 10 and 0 <= scored["successes"] <= 10
            assert scored["ci95"] == list(wilson_interval(scored["successes"], 10))
        # (SB3 counts time_elapsed in whole seconds: a run this short may take 0 of them)
        assert result["curve"] and result["wall_s"] >= 0
    pooled = document["pooled"]["latest"]
    assert pooled["episodes"] == 20
    assert pooled["successes"] == sum(r["latest"]["successes"] for r in document["seeds"])
    assert (tmp_path / "learning.reach.md").read_text().startswith("# Learning: reach, 2 seeds")
    assert (tmp_path / "learning.reach.png").stat().st_size > 10_000

    again = run_learning(tmp_path, timeout=300)
    assert again.returncode == 0 and "training" not in again.stdout  # all done: reported only
    assert json.loads((tmp_path / "learning.reach.json").read_text())["seeds"] == document["seeds"]

    shutil.rmtree(tmp_path / "runs")  # another fresh checkout: the report holds both seeds
    carried = run_learning(tmp_path, timeout=300)
    assert carried.returncode == 0, carried.stdout[-2000:] + carried.stderr[-2000:]
    assert "training" not in carried.stdout and "as the earlier report scored it" in carried.stdout
    assert json.loads((tmp_path / "learning.reach.json").read_text())["seeds"] == document["seeds"]


AMD = "AMD EPYC 7B13, 2 usable cores"
INTEL = "Intel(R) Xeon(R) Processor, 2 usable cores"


@pytest.mark.parametrize(
    ("sessions", "machines", "named"),
    [
        (2, [(1, 0, INTEL), (2, 4096, INTEL)], INTEL),
        (
            2,
            [(1, 0, AMD), (2, 7_847_936, INTEL)],
            f"{AMD} from step 0; {INTEL} from step 7,847,936",
        ),
        (3, [(3, 7_847_936, INTEL)], f"sessions 1-2: not recorded; {INTEL} from step 7,847,936"),
        (1, [], "session 1: not recorded"),
    ],
)
def test_the_report_names_the_machines_each_seed_trained_on(sessions, machines, named):
    learning_script = load_benchmark("learning")
    record = {
        "sessions": sessions,
        "machines": [{"session": n, "from_step": s, "machine": m} for n, s, m in machines],
    }
    assert learning_script.trained_on(record) == named


def test_a_one_seed_report_reads_as_one_seed():
    from learning_report import markdown

    scored = {"successes": 200, "episodes": 200, "success_rate": 1.0, "ci95": [0.981, 1.0]}
    seed = {"seed": 0, "steps": 10_002_432, "state": "finished", "wall_s": 10_358.0,
            "rollout_90": None, "validation_90": None, "latest": {**scored, "step": 10_002_432},
            "best": {**scored, "step": 9_502_720}, "trained_on": f"{AMD} from step 0"}  # fmt: skip
    pooled = {**scored, "seeds": 1}
    document = {"command": "python benchmarks/learning.py", "machine": INTEL, "date": "today",
                "episodes": 200, "seeds": [seed],
                "pooled": {"latest": pooled, "best": pooled}}  # fmt: skip
    text = markdown("pick_and_place", document)
    assert text.startswith("# Learning: pick_and_place, 1 seed\n")
    assert f"Scored on {INTEL}" in text and f"| {AMD} from step 0 |" in text
    assert "200/200 over 1 seed." in text
