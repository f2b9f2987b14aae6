"""--log-profile heavy through the real CLI, wandb telemetry off, and the logging-modes benchmark.

Speed goals live in benchmarks/logging_modes.py; nothing here is timed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import REPO, cli_env, finished_offline_run, load_benchmark

BENCHMARK = REPO / "benchmarks" / "logging_modes.py"


@pytest.fixture(scope="module")
def heavy_run(tmp_path_factory):
    args = ["--n-envs", "2", "--vec-env", "dummy", "--total-timesteps", "256"]
    _, run_dir, log = finished_offline_run(
        tmp_path_factory.mktemp("heavy"), [*args, "--log-profile", "heavy"]
    )
    return run_dir, log


def test_heavy_profile_writes_episodes_and_histograms_to_tensorboard(heavy_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = heavy_run
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"histograms": 0})
    events.Reload()
    scalars, histograms = set(events.Tags()["scalars"]), set(events.Tags()["histograms"])
    assert {"episode/return", "episode/length", "episode/count"} <= scalars
    assert "rollout/ep_rew_mean" in scalars  # SB3's own keys still there
    assert "episode/return_hist" in histograms
    assert any(tag.startswith("params/") for tag in histograms)
    assert any(tag.startswith("grads/") for tag in histograms)
    # One row per step at which episodes ended: 50-step episodes, 2 envs in lockstep.
    assert [e.step for e in events.Scalars("episode/return")] == [100, 200]


def test_heavy_profile_writes_episodes_and_histograms_to_wandb(heavy_run):
    _, log = heavy_run
    keys = set().union(*log.history)
    assert {"episode/return", "episode/length", "episode/success"} <= keys
    params = {k[: -len("/_type")] for k in keys if k.startswith("params/") and k.endswith("/_type")}
    grads = {k[: -len("/_type")] for k in keys if k.startswith("grads/") and k.endswith("/_type")}
    assert params and grads
    assert any(k.startswith("grad_norm/") for k in keys)
    histogram_row = next(row for row in log.history if "episode/return_hist/_type" in row)
    assert histogram_row["episode/return_hist/_type"] == "histogram"
    assert len(histogram_row["episode/return_hist/bins"]) == 65  # 64 bins
    steps = [row["_step"] for row in log.history]
    assert steps == sorted(steps) and 100 in steps and 256 in steps


def test_the_trainers_own_wandb_work_is_timed(heavy_run):
    # What the benchmark charges to W&B on the trainer's side: its rows and files.
    run_dir, _ = heavy_run
    timings = json.loads((run_dir / "run.json").read_text())["timings"]
    assert timings["wandb_trainer_cpu_s"] > 0
    assert timings["wandb_trainer_s"] >= timings["log_seconds"] > 0


def test_nested_wandb_work_is_timed_once():
    from rl_train.tracking.client import Tracker

    tracker = Tracker("offline", "run-id")
    with tracker.accounted():
        with tracker.accounted():
            _spin(0.2)
    assert tracker.caller_cpu_seconds == pytest.approx(0.2, abs=0.05)
    assert tracker.caller_seconds >= tracker.caller_cpu_seconds * 0.9


def test_benchmark_help_runs():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--help"],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout and "--server-url" in done.stdout


def _run(mode: str, rate: float, startup: float, status: str = "ok", rep: int = 0) -> dict:
    return {
        "env": "simple",
        "profile": "default",
        "mode": mode,
        "rep": rep,
        "status": status,
        "steady_steps_per_s": rate,
        "startup_s": startup,
    }


def test_summary_gives_medians_ranges_and_ratios_to_disabled():
    bench = load_benchmark("logging_modes")
    runs = [
        _run("disabled", 1000, 10.0, rep=0),
        _run("offline", 990, 10.5, rep=0),
        _run("offline", 960, 11.0, rep=1),
        _run("disabled", 1200, 12.0, rep=1),
        _run("disabled", 800, 11.0, rep=2),
        _run("offline", 1000, 9.0, rep=2),
        {"env": "simple", "profile": "default", "mode": "online", "status": "unavailable",
         "reason": "no server configured"},
    ]  # fmt: skip
    block = bench.summarize(runs)[("simple", "default")]
    assert block["disabled"]["stats"]["steady_steps_per_s"] == (1000, 800, 1200)
    assert block["offline"]["stats"]["steady_steps_per_s"] == (990, 960, 1000)
    assert block["offline"]["ratios"]["steady_steps_per_s"] == pytest.approx(0.99)
    assert block["offline"]["ratios"]["startup_s"] == pytest.approx(10.5 / 11.0)
    assert block["disabled"]["ratios"]["steady_steps_per_s"] == pytest.approx(1.0)
    assert block["online"]["runs"] == [] and block["online"]["unavailable"]

    table = bench.markdown_tables(bench.summarize(runs))
    offline_row = next(line for line in table.splitlines() if line.startswith("| offline"))
    assert "990 (960–1,000) ×0.990" in offline_row
    assert "| online | unavailable: no server configured |" in table
    targets = "\n".join(bench.target_lines(bench.summarize(runs)))
    assert "offline, simple kinematic reach, default profile: steady-state steps/s cost +1.0%" in (
        targets
    )
    # Three repetitions give no 95% interval of the median, so the target is not shown.
    assert "6 or more repetitions needed" in targets and "not shown" in targets


def test_the_cost_pairs_each_run_with_disabled_of_its_own_repetition():
    bench = load_benchmark("logging_modes")
    # The machine got 30% faster after the first repetition; offline costs 2% throughout.
    disabled = [_run("disabled", rate, 1.0, rep=rep) for rep, rate in enumerate([700, 1000, 1000])]
    offline = [_run("offline", rate, 1.0, rep=rep) for rep, rate in enumerate([686, 980, 980])]
    block = bench.summarize(disabled + offline)[("simple", "default")]
    assert block["offline"]["paired"]["steady_steps_per_s"][:4] == pytest.approx(
        (0.98, 0.98, 0.98, 3)
    )
    targets = "\n".join(bench.target_lines(bench.summarize(disabled + offline)))
    assert "offline, simple kinematic reach, default profile: steady-state steps/s cost +2.0%" in (
        targets
    )


def test_the_median_interval_is_the_binomial_order_statistics():
    bench = load_benchmark("logging_modes")
    assert bench.median_ci([0.9, 1.0, 1.1, 1.2, 1.3]) is None  # 5 values: no 95% interval
    assert bench.median_ci([float(v) for v in range(1, 7)]) == (1.0, 6.0)  # 96.9%
    assert bench.median_ci([float(v) for v in range(9, 0, -1)]) == (2.0, 8.0)  # 96.1%
    assert bench.median_ci([float(v) for v in range(1, 21)]) == (6.0, 15.0)  # 95.9%


def test_the_target_is_met_only_when_the_whole_interval_is_within_it():
    bench = load_benchmark("logging_modes")

    def cost_verdict(offline_rates):
        disabled = [_run("disabled", 1000, 1.0, rep=rep) for rep in range(len(offline_rates))]
        offline = [_run("offline", r, 1.0, rep=rep) for rep, r in enumerate(offline_rates)]
        entry = bench.summarize(disabled + offline)[("simple", "default")]["offline"]
        return bench.verdict(entry["paired"]["steady_steps_per_s"], 0.02)

    assert cost_verdict([995, 990, 985, 992, 988, 999, 983, 991]) == "met"
    assert cost_verdict([995, 990, 950, 992, 960, 999, 970, 991]).startswith("median within")
    assert cost_verdict([970, 960, 950, 975, 960, 990, 970, 965]) == "NOT met"


def test_the_default_job_is_the_headline_table():
    bench = load_benchmark("logging_modes")
    runs = [_run("disabled", 1000, 1.0), _run("offline", 990, 1.0)]
    runs += [dict(run, env="pybullet") for run in runs]
    table = bench.markdown_tables(bench.summarize(runs))
    assert table.index("PyBullet reach") < table.index("simple kinematic reach")
    targets = bench.target_lines(bench.summarize(runs))
    assert targets[0].startswith("- offline, PyBullet reach, default profile")


def test_the_mode_order_rotates_between_repetitions():
    bench = load_benchmark("logging_modes")
    args = bench.parse_args(["--envs", "simple", "--profiles", "default", "--reps", "3"])
    order = [spec.mode for spec in bench.plan(args)]
    assert order == [
        "disabled", "offline", "online", "offline", "online", "disabled",
        "online", "disabled", "offline",
    ]  # fmt: skip


def test_failed_runs_are_left_out_of_the_statistics():
    bench = load_benchmark("logging_modes")
    runs = [_run("disabled", 1000, 10.0), _run("offline", 500, 10.0, status="failed")]
    runs[1]["reason"] = "exit 1: boom"
    block = bench.summarize(runs)[("simple", "default")]
    assert block["offline"]["stats"]["steady_steps_per_s"] is None
    assert "unavailable: exit 1: boom" in bench.markdown_tables(bench.summarize(runs))


# What the logging process does to start and log, then the threads it runs.
TELEMETRY_PROBE = """
import json, sys, threading
from rl_train.store.record import new_run_id
from rl_train.tracking import client, process
spec = client.RunSpec("offline", new_run_id(), sys.argv[1], "p", None, "n", {})
run, _ = process.start_run(spec)
run.log({"loss": 1.0}, step=1)
print(json.dumps(sorted(t.name for t in threading.enumerate())))
run.finish()
"""


@pytest.mark.parametrize("user_setting", [None, "true"])
def test_offline_runs_leave_wandb_telemetry_off_unless_the_user_asks(tmp_path, user_setting):
    # wandb records an OpenTelemetry measurement per run.log and exports it from its own
    # threads; rl-train turns that off (WANDB_ERROR_REPORTING=false) but keeps a user's choice.
    env = cli_env()
    env.pop("WANDB_ERROR_REPORTING", None)
    if user_setting is not None:
        env["WANDB_ERROR_REPORTING"] = user_setting
    done = subprocess.run(
        [sys.executable, "-c", TELEMETRY_PROBE, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    telemetry = [name for name in threads if name.startswith("Otel")]
    assert bool(telemetry) == (user_setting == "true"), threads


def test_runs_that_know_their_order_are_compared_with_disabled_at_the_same_moment():
    bench = load_benchmark("logging_modes")
    # The machine speeds up steadily; offline runs between two disabled ones cost 2%.
    disabled = [dict(_run("disabled", rate, 1.0, rep=rep), order=2 * rep)
                for rep, rate in enumerate([1000, 1100, 1200])]  # fmt: skip
    offline = [dict(_run("offline", 0.98 * rate, 1.0, rep=rep), order=2 * rep + 1)
               for rep, rate in enumerate([1050, 1150])]  # fmt: skip
    block = bench.summarize(disabled + offline)[("simple", "default")]
    assert block["offline"]["paired"]["steady_steps_per_s"][:4] == pytest.approx(
        (0.98, 0.98, 0.98, 2)
    )
    # Paired within the repetition instead, the drift would read as a 3-4% gain.
    unordered = [{k: v for k, v in run.items() if k != "order"} for run in disabled + offline]
    paired = bench.summarize(unordered)[("simple", "default")]["offline"]["paired"]
    assert paired["steady_steps_per_s"][0] > 1.02


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_cpu_timeline_reads_a_real_process_cpu_over_a_span():
    import psutil

    bench = load_benchmark("logging_modes")
    timeline = bench.CpuTimeline()
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


def test_steady_accounting_bounds_the_cost_by_wandb_cpu_in_the_steady_span():
    bench = load_benchmark("logging_modes")
    timeline = bench.CpuTimeline()

    def sample(t, trainer, workers, logging, core):
        cpu = dict.fromkeys(bench.CpuTimeline.KINDS, 0.0)
        cpu.update(trainer=trainer, workers=workers, logging=logging, core=core)
        wakes = dict.fromkeys(bench.CpuTimeline.KINDS, 0)
        wakes.update(logging=int(10 * t), core=int(40 * t))
        timeline.samples.append((t, cpu, wakes))

    # W&B's processes: 1.5 s of start-up, then 5 ms of CPU per second; 2 busy cores.
    for t in range(0, 21):
        sample(float(t), 0.4 * t, 1.6 * t, 1.5 + 0.002 * t, 0.003 * t)
    run = {
        "steady_started_at": 5.0,
        "steady_ended_at": 15.0,
        "steady_main_cpu_s": 4.0,
        "wandb_trainer_s": 0.01,  # the trainer in rl-train's W&B code: wall ...
        "wandb_trainer_cpu_s": 0.02,  # ... and CPU (of the whole run)
    }
    out = bench.steady_accounting(run, timeline, "offline")
    assert out["steady_wall_s"] == 10.0
    assert out["steady_wandb_share"] == pytest.approx(0.005)  # the start-up is not in it
    assert out["steady_log_share"] == pytest.approx(0.001)
    assert out["steady_cost_bound"] == pytest.approx(0.006)
    assert out["steady_wandb_switches_per_s"] == pytest.approx(50)
    assert out["trainer_wandb_cpu_share"] == pytest.approx(0.02 / 4.0)
    disabled = bench.steady_accounting(run, timeline, "disabled")
    assert "steady_cost_bound" not in disabled and "trainer_wandb_cpu_share" not in disabled


def test_the_bound_is_met_only_when_its_whole_interval_is_within_the_target():
    bench = load_benchmark("logging_modes")

    def bound_verdict(bounds):
        runs = [dict(_run("offline", 1000, 1.0, rep=i), steady_cost_bound=b)
                for i, b in enumerate(bounds)]  # fmt: skip
        entry = bench.summarize(runs)[("simple", "default")]["offline"]
        return bench.bound_line("offline", "here", entry, 0.02)

    assert ": met." in bound_verdict([0.004, 0.005, 0.006, 0.004, 0.005, 0.007, 0.005, 0.006])
    assert "not shown" in bound_verdict([0.004, 0.005, 0.03, 0.004, 0.025, 0.007, 0.05, 0.006])
    assert "NOT met" in bound_verdict([0.03, 0.025, 0.021, 0.004, 0.025, 0.007, 0.05, 0.026])
