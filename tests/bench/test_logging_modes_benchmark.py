"""The logging-modes benchmark (benchmarks/logging_modes*.py): its plan, statistics,
verdicts and report, on runs made up here; its --help and a re-rendered result through the
real script. What it measures is in benchmarks/results/, never asserted here."""

from __future__ import annotations

import subprocess
import sys

import logging_modes_report as report
import logging_modes_run as one_run
import logging_modes_targets as verdicts
import pytest
from benchlib.processes import CpuTimeline
from conftest import REPO, cli_env, load_benchmark

BENCHMARK = REPO / "benchmarks" / "logging_modes.py"
RESULTS = REPO / "benchmarks" / "results"


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
    block = report.summarize(runs)[("simple", "default")]
    assert block["disabled"]["stats"]["steady_steps_per_s"] == (1000, 800, 1200)
    assert block["offline"]["stats"]["steady_steps_per_s"] == (990, 960, 1000)
    assert block["offline"]["ratios"]["steady_steps_per_s"] == pytest.approx(0.99)
    assert block["offline"]["ratios"]["startup_s"] == pytest.approx(10.5 / 11.0)
    assert block["disabled"]["ratios"]["steady_steps_per_s"] == pytest.approx(1.0)
    assert block["online"]["runs"] == [] and block["online"]["unavailable"]

    table = report.markdown_tables(report.summarize(runs))
    offline_row = next(line for line in table.splitlines() if line.startswith("| offline"))
    assert "990 (960–1,000) ×0.990" in offline_row
    assert "| online | unavailable: no server configured |" in table
    targets = "\n".join(verdicts.target_lines(report.summarize(runs)))
    assert "offline, simple kinematic reach, default profile: steady-state steps/s cost +1.0%" in (
        targets
    )
    # Three repetitions give no 95% interval of the median, so the target is not shown.
    assert "6 or more repetitions needed" in targets and "not shown" in targets


def test_the_cost_pairs_each_run_with_disabled_of_its_own_repetition():
    # The machine got 30% faster after the first repetition; offline costs 2% throughout.
    disabled = [_run("disabled", rate, 1.0, rep=rep) for rep, rate in enumerate([700, 1000, 1000])]
    offline = [_run("offline", rate, 1.0, rep=rep) for rep, rate in enumerate([686, 980, 980])]
    block = report.summarize(disabled + offline)[("simple", "default")]
    assert block["offline"]["paired"]["steady_steps_per_s"][:4] == pytest.approx(
        (0.98, 0.98, 0.98, 3)
    )
    targets = "\n".join(verdicts.target_lines(report.summarize(disabled + offline)))
    assert "offline, simple kinematic reach, default profile: steady-state steps/s cost +2.0%" in (
        targets
    )


def test_the_target_is_met_only_when_the_whole_interval_is_within_it():

    def cost_verdict(offline_rates):
        disabled = [_run("disabled", 1000, 1.0, rep=rep) for rep in range(len(offline_rates))]
        offline = [_run("offline", r, 1.0, rep=rep) for rep, r in enumerate(offline_rates)]
        entry = report.summarize(disabled + offline)[("simple", "default")]["offline"]
        return verdicts.verdict(entry["paired"]["steady_steps_per_s"], 0.02)

    assert cost_verdict([995, 990, 985, 992, 988, 999, 983, 991]) == "met"
    assert cost_verdict([995, 990, 950, 992, 960, 999, 970, 991]).startswith("median within")
    assert cost_verdict([970, 960, 950, 975, 960, 990, 970, 965]) == "NOT met"


def test_the_default_job_is_the_headline_table():
    runs = [_run("disabled", 1000, 1.0), _run("offline", 990, 1.0)]
    runs += [dict(run, env="pybullet") for run in runs]
    table = report.markdown_tables(report.summarize(runs))
    assert table.index("PyBullet reach") < table.index("simple kinematic reach")
    targets = verdicts.target_lines(report.summarize(runs))
    assert targets[0].startswith("- offline, PyBullet reach, default profile")


def test_the_mode_order_rotates_between_repetitions():
    script = load_benchmark("logging_modes")
    args = script.parse_args(["--envs", "simple", "--profiles", "default", "--reps", "3"])
    order = [spec.mode for spec in script.plan(args)]
    assert order == [
        "disabled", "offline", "online", "offline", "online", "disabled",
        "online", "disabled", "offline",
    ]  # fmt: skip


def test_failed_runs_are_left_out_of_the_statistics():
    runs = [_run("disabled", 1000, 10.0), _run("offline", 500, 10.0, status="failed")]
    runs[1]["reason"] = "exit 1: boom"
    block = report.summarize(runs)[("simple", "default")]
    assert block["offline"]["stats"]["steady_steps_per_s"] is None
    assert "unavailable: exit 1: boom" in report.markdown_tables(report.summarize(runs))


def test_runs_that_know_their_order_are_compared_with_disabled_at_the_same_moment():
    # The machine speeds up steadily; offline runs between two disabled ones cost 2%.
    disabled = [dict(_run("disabled", rate, 1.0, rep=rep), order=2 * rep)
                for rep, rate in enumerate([1000, 1100, 1200])]  # fmt: skip
    offline = [dict(_run("offline", 0.98 * rate, 1.0, rep=rep), order=2 * rep + 1)
               for rep, rate in enumerate([1050, 1150])]  # fmt: skip
    block = report.summarize(disabled + offline)[("simple", "default")]
    assert block["offline"]["paired"]["steady_steps_per_s"][:4] == pytest.approx(
        (0.98, 0.98, 0.98, 2)
    )
    # Paired within the repetition instead, the drift would read as a 3-4% gain.
    unordered = [{k: v for k, v in run.items() if k != "order"} for run in disabled + offline]
    paired = report.summarize(unordered)[("simple", "default")]["offline"]["paired"]
    assert paired["steady_steps_per_s"][0] > 1.02


def test_steady_accounting_bounds_the_cost_by_wandb_cpu_in_the_steady_span():
    timeline = CpuTimeline()

    def sample(t, trainer, workers, logging, core):
        cpu = dict.fromkeys(CpuTimeline.KINDS, 0.0)
        cpu.update(trainer=trainer, workers=workers, logging=logging, core=core)
        wakes = dict.fromkeys(CpuTimeline.KINDS, 0)
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
    out = one_run.steady_accounting(run, timeline, "offline")
    assert out["steady_wall_s"] == 10.0
    assert out["steady_wandb_share"] == pytest.approx(0.005)  # the start-up is not in it
    assert out["steady_log_share"] == pytest.approx(0.001)
    assert out["steady_cost_bound"] == pytest.approx(0.006)
    assert out["steady_wandb_switches_per_s"] == pytest.approx(50)
    assert out["trainer_wandb_cpu_share"] == pytest.approx(0.02 / 4.0)
    disabled = one_run.steady_accounting(run, timeline, "disabled")
    assert "steady_cost_bound" not in disabled and "trainer_wandb_cpu_share" not in disabled


def test_the_bound_is_met_only_when_its_whole_interval_is_within_the_target():

    def bound_verdict(bounds):
        runs = [dict(_run("offline", 1000, 1.0, rep=i), steady_cost_bound=b)
                for i, b in enumerate(bounds)]  # fmt: skip
        entry = report.summarize(runs)[("simple", "default")]["offline"]
        return verdicts.bound_line("offline", "here", entry, 0.02)

    assert ": met." in bound_verdict([0.004, 0.005, 0.006, 0.004, 0.005, 0.007, 0.005, 0.006])
    assert "not shown" in bound_verdict([0.004, 0.005, 0.03, 0.004, 0.025, 0.007, 0.05, 0.006])
    assert "NOT met" in bound_verdict([0.03, 0.025, 0.021, 0.004, 0.025, 0.007, 0.05, 0.026])


@pytest.mark.parametrize("name", ["logging_modes.trainer-wandb-work-6reps"])
def test_an_old_result_re_renders_to_its_committed_file(tmp_path, name):
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--from-json", str(RESULTS / f"{name}.json"),
         "--output-prefix", str(tmp_path / name)],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"{name}.md").read_text() == (RESULTS / f"{name}.md").read_text()
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
