"""benchmarks/throughput.py: a real short run (PyBullet reach, SB3 subproc and shm, the real
rl-train command) and its statistics. Nothing here is timed: the speed goals are what the
benchmark itself reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import throughput_report
from conftest import REPO, cli_env, load_benchmark

BENCHMARK = REPO / "benchmarks" / "throughput.py"


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("throughput")
    command = [
        sys.executable, str(BENCHMARK), "--quick", "--envs", "reach",
        "--backends", "subproc", "shm", "shm-sb3", "--n-envs", "2", "--seconds", "1",
        "--repeats", "2", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out, done.stdout


@pytest.mark.slow  # a minute of real benchmark runs: in CI's slow suite
def test_each_backend_gets_a_measured_row_against_the_limit(short_run):
    out, _ = short_run
    report = json.loads((out / "throughput.json").read_text())
    limit = report["limits"]["reach"]
    assert limit["single_core"] > 0
    assert limit["limit"] == pytest.approx(limit["single_core"] * report["usable_cores"])
    rows = {row["backend"]: row for row in report["results"]}
    assert set(rows) == {"subproc", "shm", "shm-sb3"}
    for backend, row in rows.items():
        assert "error" not in row, row
        assert row["n_envs"] == 2
        assert len(row["steps_per_s_runs"]) == 2 and all(r > 0 for r in row["steps_per_s_runs"])
        assert min(row["steps_per_s_runs"]) <= row["steps_per_s"] <= max(row["steps_per_s_runs"])
        assert row["startup_s"] > 0 and row["cpu_ms_per_step"] > 0
        assert 0 < row["update_share"] < 1
        assert row["peak_pss_mb"] > 100, backend  # a learner with torch alone is more
    # the whole process tree is sampled: the learner and its env workers (and
    # multiprocessing's helpers)
    assert rows["subproc"]["processes"] >= 1 + 2
    assert rows["shm"]["processes"] >= 1 + min(2, report["usable_cores"])


@pytest.mark.slow  # a minute of real benchmark runs: in CI's slow suite
def test_the_report_has_the_table_the_pairs_and_the_plot(short_run):
    out, stdout = short_run
    text = (out / "throughput.md").read_text()
    assert "Each setting ran 2 times, interleaved" in text
    assert "- reach, 2 envs: shm / subproc = " in text and "over 2 paired runs" in text
    assert "- reach, 2 envs: shm / shm-sb3 = " in text  # the learner before #39, paired
    for backend in ("subproc", "shm", "shm-sb3"):
        assert f"| reach | {backend} | 2 | " in text
    assert text.strip() in stdout  # what is written is what was printed
    assert (out / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "throughput.partial.json").exists()
    # every run is reported as it ends, with its CPU per step
    per_run = re.findall(r"^ +(subproc|shm|shm-sb3) +2 envs: .* steps/s, .* ms/step$", stdout, re.M)
    assert sorted(per_run) == ["shm", "shm", "shm-sb3", "shm-sb3", "subproc", "subproc"]


def _row(backend, runs, pss=500.0, error=None):
    if error:
        return {"env": "reach", "backend": backend, "n_envs": 16, "error": error}
    return {
        "env": "reach", "backend": backend, "n_envs": 16, "steps_per_s": runs[0],
        "startup_s": 3.0, "update_share": 0.1, "cpu_ms_per_step": 0.4,
        "learner_cpu_ms_per_step": 0.1, "wall_s": 10.0, "peak_pss_mb": pss,
        "peak_rss_mb": pss * 1.2, "processes": 3,
    }  # fmt: skip


def test_repeats_combine_to_medians_and_the_highest_memory_peak():
    bench = load_benchmark("throughput")
    runs = [_row("shm", [r], pss) for r, pss in [(3000, 900), (1000, 1100), (1300, 1000)]]
    row = bench.combine(runs)
    assert row["steps_per_s"] == 1300  # the median, not the mean
    assert row["steps_per_s_runs"] == [3000, 1000, 1300]
    assert row["peak_pss_mb"] == 1100


def test_a_failed_repeat_fails_the_setting():
    bench = load_benchmark("throughput")
    row = bench.combine([_row("shm", [3000]), _row("shm", [], error="exit 1: boom")])
    assert row["error"] == "exit 1: boom"
    assert "| reach | shm | 16 | failed |" in throughput_report.table([row], {})


def test_ratios_pair_runs_of_the_same_repetition():
    bench = load_benchmark("throughput")
    # The machine slowed down by half after the first repetition; shm stays 1.5x subproc.
    shm = bench.combine([_row("shm", [r]) for r in (3000, 1500)])
    subproc = bench.combine([_row("subproc", [r]) for r in (2000, 1000)])
    lines = throughput_report.paired_ratios([shm, subproc], "shm", "subproc")
    assert lines == ["- reach, 16 envs: shm / subproc = 1.50x (1.50-1.50) over 2 paired runs"]
