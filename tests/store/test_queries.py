"""The run store in-process: finding runs, their state, summaries, clean choices."""

from __future__ import annotations

import os
import time

import psutil
import pytest
from fake_runs import fake_run

from rl_train.errors import UserError
from rl_train.store import clean, query, summary, sync
from rl_train.store.record import RunRecord


def test_runs_are_listed_oldest_first_and_unreadable_ones_skipped(tmp_path):
    now = time.time()
    fake_run(tmp_path, "b", started_at=now - 10)
    fake_run(tmp_path, "a", started_at=now)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    (tmp_path / "not-a-run").mkdir()
    assert [run.name for run in query.find_runs(tmp_path)] == ["b", "a"]
    with pytest.raises(UserError, match="--output-dir"):
        query.find_runs(tmp_path / "missing")


def test_a_run_is_resolved_by_path_name_or_id(tmp_path):
    run_dir = fake_run(tmp_path, "r1")
    run_id = RunRecord.load(run_dir).run_id
    for spec in (str(run_dir), "r1", run_id):
        assert query.resolve_run(tmp_path, spec).path == run_dir
    with pytest.raises(UserError, match="runs list"):
        query.resolve_run(tmp_path, "nope")


def test_a_running_run_whose_process_is_gone_shows_as_crashed(tmp_path):
    alive = query.load_run(fake_run(tmp_path, "alive", state="running", pid=os.getpid()))
    dead = query.load_run(fake_run(tmp_path, "dead", state="running", pid=2**22 + 1))
    assert alive.state == "running"
    assert dead.state == "crashed" and dead.record.state == "running"
    # A recycled pid: the process holding it started after the session recorded it.
    recycled = fake_run(tmp_path, "recycled", state="running", pid=os.getpid())
    record = RunRecord.load(recycled)
    record.session_started = psutil.Process().create_time() - 3600
    record.save()
    assert query.load_run(recycled).state == "crashed"


def test_summary_prefers_the_final_evaluation_and_knows_there_is_no_wandb_data(tmp_path):
    run = query.load_run(fake_run(tmp_path, "r1", steps=(1024, 2048)))
    run.record.rollout_success_rate = 0.4
    assert summary.run_summary(run)["success_rate"] == 0.4
    run.record.success_rate = 0.9
    data = summary.run_summary(run)
    assert data["success_rate"] == 0.9
    assert data["sync_status"] == "local" and not data["synced"]
    assert data["steps"] == 2048 and data["size_bytes"] > 0


def test_checkpoints_mark_the_latest(tmp_path):
    run = query.load_run(fake_run(tmp_path, "r1", steps=(1024, 2048)))
    found = query.checkpoints(run)
    assert [(c.step, c.latest) for c in found] == [(1024, False), (2048, True)]
    assert query.read_config(run)["n_envs"] == 4
    (run.path / "config.yaml").write_text(": bad")
    assert query.read_config(run) == {}


def test_clean_keeps_running_and_unsynced_runs_unless_forced(tmp_path):
    runs = [
        query.load_run(fake_run(tmp_path, "live", state="running", pid=os.getpid())),
        query.load_run(fake_run(tmp_path, "local", state="finished")),
    ]
    kept = {c.run.name: c.refused for c in clean.choose_for_clean(runs, False, False, None, False)}
    assert kept["live"] == "still running" and "--force" in kept["local"]
    forced = {c.run.name: c.refused for c in clean.choose_for_clean(runs, False, False, None, True)}
    assert forced == {"live": "still running", "local": ""}


def test_sync_skips_running_runs_and_runs_without_wandb_data(tmp_path):
    runs = [
        query.load_run(fake_run(tmp_path, "live", state="running", pid=os.getpid())),
        query.load_run(fake_run(tmp_path, "local", state="finished")),
    ]
    reasons = {p.run.name: p.skip_reason for p in sync.plan_sync(runs, False, None)}
    assert "still running" in reasons["live"]
    assert "no W&B data" in reasons["local"]


def test_age_filter_uses_the_last_activity(tmp_path):
    run = query.load_run(fake_run(tmp_path, "r1", started_at=time.time() - 7200))
    assert query.older_than(run, 3600) and not query.older_than(run, 3 * 3600)
