"""Online mode when the server goes away: training ends within the finish bound with its
own exit status and one line saying what the server lacks; nothing of the run is left
running; `rl-train runs sync` later brings the server exactly the rows it lacked. And
--wandb-mode auto: online when the server answers, else offline."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import alive, run_cli, run_processes, server_get, start_cli

from rl_train.store import wandb_txlog

FINISH_TIMEOUT_S = 8


def run_id_of(run_dir: Path) -> str:
    deadline = time.monotonic() + 120
    while not (run_dir / "run.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return json.loads((run_dir / "run.json").read_text())["run_id"]


def server_rows(url: str, run_id: str, key: str) -> list[int]:
    """The steps of the server's rows of one metric, duplicates included."""
    metrics = server_get(url, f"/api/v2/runs/{run_id}/metrics?key={key}")["metrics"]
    return [m["step"] for m in metrics]


def listed(cwd: Path, env: dict) -> dict:
    done = run_cli(["runs", "list", "--json", "--output-dir", "runs"], cwd, env=env)
    assert done.returncode == 0, done.stderr
    return {entry["name"]: entry for entry in json.loads(done.stdout)}


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_server_stopped_mid_run_then_sync_uploads_exactly_the_rest(tmp_path, own_server):
    # wandb-core sends history every 15 s by default; every second here, so the first rows
    # reach the server while training still runs on a fast machine too.
    env = own_server.env(WANDB__FILE_STREAM_TRANSMIT_INTERVAL="1")
    process = start_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", "122880", "--eval-freq", "0",
         "--run-name", "cut", "--wandb-mode", "online", "--output-dir", "runs",
         "--wandb-finish-timeout", str(FINISH_TIMEOUT_S)],
        tmp_path,
        env=env,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), line) for line in process.stdout)
    )
    reader.start()
    run_dir = tmp_path / "runs" / "cut"
    seen: set[int] = set()
    try:
        run_id = run_id_of(run_dir)
        # Stop the server once part of the history reached it, before training ends.
        deadline = time.monotonic() + 120
        while not server_rows(own_server.url, run_id, "time/fps"):
            assert time.monotonic() < deadline and process.poll() is None
            seen |= run_processes(process.pid, run_dir)
            time.sleep(0.5)
        seen |= run_processes(process.pid, run_dir)
        own_server.stop()
        cut_mid_run = not any(line.startswith("100%") for _, line in lines)
        stderr = process.stderr.read()
        process.wait(timeout=300)
        exited = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=30)
    assert process.returncode == 0, stderr
    assert cut_mid_run, "training had ended before the server stopped: nothing was cut"
    assert any(line.startswith("100%") for _, line in lines), "training was cut short"
    # The finish (the logging process's wait for the server) kept to its bound ...
    timings = json.loads((run_dir / "run.json").read_text())["timings"]
    assert timings["wandb_finish_s"] <= FINISH_TIMEOUT_S + 2, timings
    # ... and so did the command, counted from training's last progress line.
    trained = max(at for at, line in lines if line.startswith("100%"))
    assert exited - trained < FINISH_TIMEOUT_S + 30
    warnings = [line for line in stderr.splitlines() if "did not finish uploading" in line]
    assert len(warnings) == 1, stderr
    assert "rl-train runs sync cut" in warnings[0]
    assert "wandb: WARNING" not in stderr
    assert not alive(seen | run_processes(0, run_dir)), "processes of the run left behind"

    record = json.loads((run_dir / "run.json").read_text())
    (upload,) = record["uploads"].values()
    assert upload["complete"] is False and upload["history_rows_uploaded"] > 0
    assert listed(tmp_path, env)["cut"]["sync_status"] == "partly"

    own_server.start()  # the same data dir: it has what it got before it stopped
    env = own_server.env()
    done = run_cli(["runs", "sync", "cut", "--output-dir", "runs"], tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "synced cut" in done.stdout

    (log_file,) = run_dir.glob("wandb/run-*/run-*.wandb")
    local = wandb_txlog.read_run(log_file).history
    keys = {key for row in local for key in row if not key.startswith("_")}
    keys = {k for k in keys if all(isinstance(r.get(k, 0), int | float) for r in local)}
    assert "time/fps" in keys and "train/loss" in keys
    for key in sorted(keys):
        on_server = server_rows(own_server.url, run_id, key)
        assert not [s for s, n in Counter(on_server).items() if n > 1], f"{key} duplicated"
        assert on_server == sorted(row["_step"] for row in local if key in row), key
    assert server_get(own_server.url, f"/api/v2/runs/{run_id}")["run"]["state"] == "finished"
    assert listed(tmp_path, env)["cut"]["sync_status"] == "synced"


@pytest.mark.timeout(240)
def test_auto_mode_trains_online_when_the_server_answers(tmp_path, own_server):
    done = run_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", "2048", "--eval-freq", "0"]
        + ["--wandb-mode", "auto", "--run-name", "a", "--output-dir", "runs"],
        tmp_path,
        env=own_server.env(),
    )
    assert done.returncode == 0, done.stderr
    assert "not reachable" not in done.stderr
    run_dir = tmp_path / "runs" / "a"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["wandb_mode"] == "online"
    assert list(run_dir.glob("wandb/run-*/run-*.wandb"))
    run = server_get(own_server.url, f"/api/v2/runs/{record['run_id']}")["run"]
    assert run["state"] == "finished"
    assert listed(tmp_path, own_server.env())["a"]["sync_status"] == "online"


def test_auto_mode_trains_offline_without_a_server(tmp_path):
    from conftest import cli_env

    env = cli_env(WANDB_BASE_URL="http://127.0.0.1:9", WANDB_API_KEY="x" * 40)
    done = run_cli(
        ["--use-simple-env", "--n-envs", "4", "--total-timesteps", "2048", "--eval-freq", "0"]
        + ["--wandb-mode", "auto", "--run-name", "b", "--output-dir", "runs"],
        tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "not reachable" in line]
    assert "training offline" in line and "`rl-train runs sync b`" in line
    run_dir = tmp_path / "runs" / "b"
    assert json.loads((run_dir / "run.json").read_text())["wandb_mode"] == "offline"
    assert list(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert "sync with:    rl-train runs sync b" in done.stdout
    assert listed(tmp_path, env)["b"]["sync_status"] == "no"
