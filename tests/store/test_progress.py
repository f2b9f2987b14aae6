"""Reading a run's progress from its journal while it trains: the tail, following appends and
a resume's cut, steps/ETA/success from the newest rows, the watch's events (in process, on
run folders as the trainer leaves them)."""

from __future__ import annotations

import json
import os

from fake_runs import fake_run

from rl_train.cli.watch import SPARK, sparkline
from rl_train.store import journal, lock, query
from rl_train.store.journal import JournalFollower
from rl_train.store.live import WatchedRun
from rl_train.store.progress import read_progress
from rl_train.store.record import RunRecord


def rows_text(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def test_tail_reads_only_complete_rows_of_the_end(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"_step": 256 * i, "time/fps": 1000 + i, "pad": "x" * 500} for i in range(1, 200)]
    path.write_text(rows_text(*rows) + '{"_step": 99999, "time/f')  # a row being written
    tail = journal.tail_rows(path, max_bytes=4096)
    assert 1 <= len(tail) <= 8  # the end only, whatever the journal's length
    assert tail == rows[-len(tail) :]  # the line cut at the window's start is dropped
    assert journal.tail_rows(tmp_path / "none.jsonl") == []


def test_follower_reads_appends_waits_for_a_whole_line_and_restarts_on_a_cut(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(rows_text({"_step": 1}, {"_step": 2}))
    follower = JournalFollower(path)
    assert follower.read_new() == ([{"_step": 1}, {"_step": 2}], False)
    with open(path, "a") as f:
        f.write('{"_step": 3}\n{"_st')
    assert follower.read_new() == ([{"_step": 3}], False)
    with open(path, "a") as f:
        f.write('ep": 4}\n')
    assert follower.read_new() == ([{"_step": 4}], False)
    assert follower.read_new() == ([], False)
    journal.truncate_after(path, 2)  # what a resume from the checkpoint at step 2 does
    assert follower.read_new() == ([{"_step": 1}, {"_step": 2}], True)


def test_a_running_run_reports_the_journals_steps_rate_eta_and_success(tmp_path):
    run_dir = fake_run(tmp_path, "live", steps=(1024,), state="running", pid=os.getpid())
    record = RunRecord.load(run_dir)
    record.steps, record.total_timesteps = 0, 4096  # as run.json holds it while training
    record.save()
    (run_dir / "metrics.jsonl").write_text(
        rows_text(
            {"_step": 1024, "time/fps": 512, "rollout/success_rate": 0.25},
            {"_step": 1024, "eval/success_rate": 0.5},
            {"_step": 2048, "time/fps": 1024, "rollout/success_rate": 0.75},
        )
    )
    run = query.load_run(run_dir)
    assert run.state == "running"  # its pid (ours) lives
    progress = read_progress(run)
    assert progress.steps == 2048 and progress.fraction == 0.5
    assert progress.steps_per_s == 1024
    assert 0 < progress.eta_s <= 2.0  # 2048 steps left at 1024 steps/s, from the row's time
    assert (progress.rollout_success_rate, progress.eval_success_rate) == (0.75, 0.5)
    assert progress.latest_checkpoint == 1024


def test_a_run_whose_process_is_gone_shows_crashed_at_the_step_it_reached(tmp_path):
    run_dir = fake_run(tmp_path, "dead", steps=(1024,), state="running", pid=2**22 + 7)
    (run_dir / "metrics.jsonl").write_text(rows_text({"_step": 1536, "time/fps": 900}))
    run = query.load_run(run_dir)
    progress = read_progress(run)
    assert run.state == "crashed" and progress.steps == 1536 and progress.eta_s is None


def test_an_ended_run_reports_its_recorded_numbers(tmp_path):
    run_dir = fake_run(tmp_path, "done", steps=(4096,), state="finished")
    record = RunRecord.load(run_dir)
    record.success_rate, record.rollout_success_rate = 0.9, 0.8
    record.save()
    (run_dir / "metrics.jsonl").write_text(
        rows_text({"_step": 4096, "time/fps": 700, "rollout/success_rate": 0.7})
    )
    progress = read_progress(query.load_run(run_dir))
    assert (progress.steps, progress.steps_per_s, progress.eta_s) == (4096, 700, None)
    assert (progress.rollout_success_rate, progress.eval_success_rate) == (0.8, 0.9)


def test_a_watched_run_tells_a_crash_a_resume_and_the_finish(tmp_path):
    run_dir = fake_run(tmp_path, "w", steps=(1024,), state="running", pid=os.getpid())
    path = run_dir / "metrics.jsonl"
    path.write_text(rows_text({"_step": 1024, "rollout/ep_rew_mean": -3.0}))
    watched = WatchedRun(run_dir, ("rollout/ep_rew_mean",))
    assert watched.refresh() == [] and watched.state == "running"
    with open(path, "a") as f:
        f.write(rows_text({"_step": 2048, "rollout/ep_rew_mean": -1.0}))
    record = RunRecord.load(run_dir)
    record.pid = 2**22 + 7  # its process is gone, run.json still says running
    record.save()
    (event,) = watched.refresh()
    assert event.startswith("w: crashed at 2,048/4,096 steps (its process")
    assert "resume from step 1,024 with rl-train --resume" in event
    assert watched.series["rollout/ep_rew_mean"] == [-3.0, -1.0] and watched.ended

    with lock.RunLock.acquire(run_dir, "training", "wait"):  # a resume starting up
        (event,) = watched.refresh()
        assert event == f"w: a new session is starting (pid {os.getpid()})"
        assert watched.progress.steps == 1024 and not watched.ended  # from its checkpoint
        journal.truncate_after(path, 1024)  # back to the checkpoint, then a new session
        record.pid, record.sessions, record.session_start_step = os.getpid(), 2, 1024
        record.save()
        assert watched.refresh() == ["w: resumed from step 1,024 (session 2)"]
    assert watched.series["rollout/ep_rew_mean"] == [-3.0] and not watched.ended

    record.state, record.steps, record.success_rate = "finished", 4096, 0.75
    record.save()
    assert watched.refresh() == ["w: finished at 4,096/4,096 steps, success 75% (test episodes)"]


def test_sparkline_spans_the_whole_history_in_its_width():
    assert sparkline([]) == ""
    assert sparkline([1.0, 2.0, 3.0]) == SPARK[0] + SPARK[4] + SPARK[-1]  # low to high
    line = sparkline([float(i) for i in range(1000)], width=10)
    assert len(line) == 10 and line[0] == SPARK[0] and line[-1] == SPARK[-1]
    assert list(line) == sorted(line)
    assert len(set(sparkline([5.0] * 4))) == 1  # flat stays flat
