"""benchmarks/inference_latency.py: a real short measurement (the reach network, exported as
`rl-train export` exports it, all three runtimes) and the table it writes. Nothing here is
timed: the figures are what the benchmark itself reports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, cli_env


@pytest.mark.slow  # three runtimes built and timed: in CI's slow suite
def test_the_latency_benchmark_times_every_runtime_and_batch(tmp_path):
    prefix = tmp_path / "latency"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "inference_latency.py"), "--tasks", "reach",
         "--calls", "50", "--output-prefix", str(prefix)],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(prefix.with_suffix(".json").read_text())["results"]["reach"]
    for threads in ("one thread", "all cores"):
        for runtime in ("onnxruntime", "torchscript", "sb3"):
            for batch in ("1", "16"):
                cell = results[threads][runtime][batch]
                assert cell["calls"] == 50 and 0 < cell["median_us"] <= cell["p99_us"]
    table = prefix.with_suffix(".md").read_text()
    assert table.count("| reach |") == 6 and "batch 16 p99" in table
