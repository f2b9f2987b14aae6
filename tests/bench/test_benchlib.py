"""benchmarks/benchlib, what the benchmark scripts share: statistics, the machine, a process
tree watched from outside, the counting and shaping proxy in front of a real HTTP server,
result files. Nothing here is timed against a goal."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from benchlib import machine, results, stats
from benchlib.network import CountingProxy, OnlineTarget, check_online, link_description
from benchlib.processes import CpuTimeline, TreeMemory, process_tree
from conftest import REPO, cli_env


def test_the_median_interval_is_the_binomial_order_statistics():
    assert stats.median_ci([0.9, 1.0, 1.1, 1.2, 1.3]) is None  # 5 values: no 95% interval
    assert stats.median_ci([float(v) for v in range(1, 7)]) == (1.0, 6.0)  # 96.9%
    assert stats.median_ci([float(v) for v in range(9, 0, -1)]) == (2.0, 8.0)  # 96.1%
    assert stats.median_ci([float(v) for v in range(1, 21)]) == (6.0, 15.0)  # 95.9%


def test_a_cost_is_met_only_when_its_whole_interval_is_within_the_limit():
    assert stats.judge(0.01, (0.005, 0.015), 0.02) == stats.MET
    assert stats.judge(0.01, (0.005, 0.03), 0.02) == stats.NOT_SHOWN
    assert stats.judge(0.01, None, 0.02) == stats.NOT_SHOWN  # too few values to know
    assert stats.judge(0.03, (0.025, 0.04), 0.02) == stats.NOT_MET


def test_spreads_and_ratios_leave_out_what_is_unknown():
    assert stats.ratios([(2.0, 1.0), (None, 1.0), (3.0, 0.0), (1.0, 4.0)]) == [2.0, 0.25]
    assert stats.spread([]) is None
    assert stats.spread([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0, 3, None)
    assert stats.median_min_max([None, 4.0, 2.0]) == (3.0, 2.0, 4.0)
    empty = stats.with_interval([])
    assert empty["n"] == 0 and empty["ci95"] is None and empty["median"] != empty["median"]


def test_runs_that_know_their_order_are_paired_with_the_reference_at_the_same_moment():
    # The machine speeds up by 100 steps/s a run; each run costs 2% of the reference then.
    reference = [{"order": 0, "rate": 1000.0}, {"order": 2, "rate": 1200.0}]
    runs = [{"order": 1, "rate": 0.98 * 1100.0}]
    assert stats.paired_ratio(runs, reference, "rate")[0] == pytest.approx(0.98)
    # Without an order, the run is paired with its repetition's reference.
    by_rep = stats.paired_difference([{"rep": 0, "s": 3.5}], [{"rep": 0, "s": 3.0}], "s")
    assert by_rep == (pytest.approx(0.5), 1)


def test_the_machine_is_described_in_one_line_and_in_full():
    described = machine.describe()
    assert described["usable_cores"] >= 1 and described["memory_bytes"] > 0
    assert "gymnasium" in described["versions"]
    assert machine.summary_line().endswith(f"{described['usable_cores']} usable cores")
    assert machine.load_average() >= 0.0
    speed = machine.host_speed(samples=2, every_s=0.0)
    assert 0 < speed["min_s"] <= speed["max_s"]


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_cpu_timeline_reads_a_real_process_cpu_over_a_span():
    import psutil

    timeline = CpuTimeline()
    me = psutil.Process()
    timeline.sample([me], me.pid)
    started = time.time()
    _spin(0.3)
    ended = time.time()
    timeline.sample([me], me.pid)
    spans = timeline.over(started, ended)
    assert spans["trainer"] == pytest.approx(0.3, abs=0.1)
    assert spans["logging"] == spans["core"] == spans["workers"] == 0.0
    assert timeline.total("core") is None  # no wandb-core ran
    assert timeline.over(started - 10, ended) is None  # not sampled that early


def test_tree_memory_sees_a_child_process_and_its_own_child():
    # A parent that starts a child holding 64 MB: the tree's peak counts both processes.
    code = (
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', "
        "'import time; b = bytearray(64 * 2**20); time.sleep(3)']); time.sleep(3); c.wait()"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    memory = TreeMemory(process.pid, interval=0.1)
    time.sleep(1.5)
    assert len(process_tree(process.pid)) == 2
    process.wait(timeout=30)
    memory.stop()
    assert memory.peak_processes == 2
    assert memory.peak_rss > 64 * 2**20


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _post_through(proxy: CountingProxy, size: int) -> float:
    started = time.perf_counter()
    request = urllib.request.Request(f"http://127.0.0.1:{proxy.port}/", data=b"x" * size)
    with urllib.request.urlopen(request, timeout=30) as response:
        assert len(response.read()) == size
    return time.perf_counter() - started


def test_the_proxy_counts_the_bytes_each_way(http_server):
    proxy = CountingProxy("127.0.0.1", http_server.server_address[1])
    try:
        _post_through(proxy, 100_000)
        time.sleep(0.2)  # the pipes count after each send
        sent, received = proxy.reset()
        assert 100_000 < sent < 101_000 and 100_000 < received < 101_000  # + headers
        assert proxy.reset() == (0, 0)
    finally:
        proxy.close()


def test_the_proxy_makes_a_slow_link(http_server):
    port = http_server.server_address[1]
    plain, slow = CountingProxy("127.0.0.1", port), CountingProxy("127.0.0.1", port, 200, 800)
    try:
        fast_s = _post_through(plain, 20_000)
        # 20 kB each way at 800 kbit/s is 0.2 s each way, plus 100 ms a way per chunk.
        slow_s = _post_through(slow, 20_000)
        assert slow_s > 0.5 > fast_s
    finally:
        plain.close()
        slow.close()
    assert link_description(200, 800) == (
        "200 ms round-trip latency added, 800 kbit/s each way (the benchmark's loopback proxy)"
    )
    assert link_description(0, 0) is None


def test_a_server_that_is_not_there_is_named_within_seconds():
    started = time.perf_counter()
    reason = check_online("http://127.0.0.1:9", "key")
    assert reason.startswith("server http://127.0.0.1:9 not reachable")
    assert time.perf_counter() - started < 12
    assert check_online("", "key").startswith("no server configured")
    target = OnlineTarget("http://127.0.0.1:9", "key", {})
    assert target.env is None and target.proxy is None and "not reachable" in target.unavailable
    target.close()


def test_result_files(tmp_path):
    md, js, csv_path = results.paths(tmp_path / "sub" / "name.quick", ".md", ".json", ".csv")
    assert md.name == "name.quick.md" and md.parent.is_dir()
    results.write_json(js, {"a": 1})
    assert json.loads(js.read_text()) == {"a": 1}
    results.write_csv(csv_path, [{"a": 1}, {"b": 2, "a": 3}])
    assert csv_path.read_text().splitlines() == ["a,b", "1,", "3,2"]
    assert results.shown(REPO / "benchmarks" / "x.md") == "benchmarks/x.md"


SCRIPTS = sorted(
    p.name for p in (REPO / "benchmarks").glob("*.py") if '__name__ == "__main__"' in p.read_text()
)


def test_no_benchmark_file_is_over_400_lines():
    files = sorted((REPO / "benchmarks").rglob("*.py"))
    assert len(files) > len(SCRIPTS) >= 12
    lengths = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in files}
    assert not {name: n for name, n in lengths.items() if n > 400}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_script_answers_help(script):
    command = [sys.executable, str(REPO / "benchmarks" / script), "--help"]
    done = subprocess.run(command, cwd=REPO, env=cli_env(), capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("usage:"), done.stderr


def test_wandb_alone_is_timed_in_a_process_of_its_own():
    from benchlib.command import child_env
    from benchlib.wandb_probes import probe_wandb_idle, probe_wandb_start

    (start,) = probe_wandb_start(1, child_env())
    assert start["wandb_init_s"] > 0 and start["wandb_finish_s"] > 0, start
    idle = probe_wandb_idle(1.0, child_env())
    assert idle["seconds"] == 1.0 and idle["core_ms_per_s"] >= 0, idle


def test_a_results_header_names_command_machine_date_and_load():
    found = results.header("x.py", ["--quick"], 1.234)
    assert found["command"] == "python benchmarks/x.py --quick"
    assert found["machine"] == machine.summary_line() and found["date"].endswith(" UTC")
    assert found["load_start"] == "1.23" and found["load_end"] != ""
    assert results.header("x.py", [], None)["load_start"] == "unknown"
