"""One process writes a run at a time: while a run trains, a resume of it, a new run of the
same name, `runs sync` and `runs clean` of it are each refused, and the run finishes whole."""

from __future__ import annotations

import csv
import io
import time

import pytest
from conftest import run_cli, server_get, start_cli, wandb_files

from rl_train.store import lock
from rl_train.store.record import RunRecord

ROLLOUT = 256  # 4 envs x 64 steps
# Long enough to outlast the five second processes (each refused after its ~1 s lock retry)
# on a fast machine too: the kinematic env trains ~4,500 steps/s here.
TOTAL = 160 * ROLLOUT
TRAIN = [
    "--use-simple-env",
    "--n-envs",
    "4",
    "--total-timesteps",
    str(TOTAL),
    "--checkpoint-freq",
    "1024",
    "--keep-checkpoints",
    "2",
    "--output-dir",
    "runs",
]
SECOND_PROCESSES = {
    "resume": ["--resume", "runs/live"],
    "resume latest": ["--resume", "latest", "--output-dir", "runs"],
    "same name": [*TRAIN, "--run-name", "live"],
    "sync": ["runs", "sync", "live", "--output-dir", "runs"],
    "clean": ["runs", "clean", "live", "--force", "--yes", "--output-dir", "runs"],
}


@pytest.fixture(scope="module")
def contested(tmp_path_factory):
    """A run that trains while each second process is tried on it: (cwd, its pid, the
    second processes' results, the run's own result)."""
    cwd = tmp_path_factory.mktemp("lock")
    run_dir = cwd / "runs" / "live"
    live = start_cli([*TRAIN, "--run-name", "live"], cwd)
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoints" / "1024").exists():  # training, with a checkpoint
        assert live.poll() is None and time.monotonic() < deadline, live.communicate()
        time.sleep(0.05)
    results = {name: run_cli(args, cwd=cwd) for name, args in SECOND_PROCESSES.items()}
    still_training = live.poll() is None
    out, err = live.communicate(timeout=300)
    return cwd, live.pid, results, still_training, (live.returncode, out, err)


@pytest.mark.parametrize("second", list(SECOND_PROCESSES))
def test_a_second_process_is_refused_in_one_line(contested, second):
    cwd, pid, results, still_training, _ = contested
    assert still_training, "the run ended before every second process was tried"
    done = results[second]
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("rl-train: error: run live is in use by pid")
    assert f"pid {pid} on " in lines[0] and "(training since" in lines[0]


def test_the_running_run_finishes_with_every_row(contested):
    cwd, _, _, _, (code, out, err) = contested
    run_dir = cwd / "runs" / "live"
    assert code == 0, err
    assert "run finished" in out
    assert RunRecord.load(run_dir).steps == TOTAL
    (log,) = wandb_files(run_dir)  # one W&B folder: nobody started a second session
    assert not log.with_name(log.name + ".bak").exists()  # nobody cut its history
    exported = run_cli(["runs", "export", "live", "-o", "-", "--output-dir", "runs"], cwd=cwd)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [int(row["_step"]) for row in rows] == list(range(ROLLOUT, TOTAL + 1, ROLLOUT))
    assert lock.holder(run_dir) is None  # released at the end


@pytest.mark.online
def test_the_synced_run_has_every_row_on_the_server(contested, wandb_server):
    cwd, _, _, _, (code, _, err) = contested
    assert code == 0, err
    done = run_cli(["runs", "sync", "live", "--output-dir", "runs"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    run_id = RunRecord.load(cwd / "runs" / "live").run_id
    rows = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key=global_step")
    assert sorted(row["step"] for row in rows["metrics"]) == list(
        range(ROLLOUT, TOTAL + 1, ROLLOUT)
    )


def test_a_lock_file_left_by_a_killed_process_blocks_nothing(tmp_path):
    # A lock file left by a killed process holds no lock: the next run goes ahead.
    run_dir = tmp_path / "runs" / "free"
    run_dir.mkdir(parents=True)
    (run_dir / ".lock").write_text('{"pid": 1, "host": "elsewhere"}')
    assert lock.holder(run_dir) is None
    done = run_cli(
        [
            "--use-simple-env",
            "--n-envs",
            "2",
            "--total-timesteps",
            "256",
            "--run-name",
            "free",
            "--output-dir",
            "runs",
            "--wandb-mode",
            "disabled",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_holder_names_the_process_that_holds_the_lock(tmp_path):
    held = lock.RunLock.acquire(tmp_path, "sync", "wait")
    try:
        found = lock.holder(tmp_path)
        assert found is not None and found.purpose == "sync" and found.pid > 0
        with pytest.raises(lock.RunInUse, match=r"in use by pid \d+ on .* \(sync since"):
            lock.RunLock.acquire(tmp_path, "training", "wait for pid {pid}")
    finally:
        held.release()
    assert lock.holder(tmp_path) is None
    lock.RunLock.acquire(tmp_path, "training", "wait").release()
