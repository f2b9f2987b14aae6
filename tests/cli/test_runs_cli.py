"""`rl-train runs ...` on real offline runs made by the trainer CLI (cheap env, tiny budgets)."""

from __future__ import annotations

import csv
import json
import math
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import cli_env, run_cli, server_get, start_cli, wandb_files

from rl_train.cli import runs as runs_cli
from rl_train.errors import UserError
from rl_train.store import plotting, wandb_txlog

ENV = "tests.crash_env:CrashingReach-v0"  # no physics engine: each run costs seconds
STEPS = 512  # 2 envs x 64 steps = 128 per rollout: 4 rows


def start_training(cwd: Path, *args: str) -> subprocess.Popen:
    return start_cli([*args, "--output-dir", "runs"], cwd, stdout=subprocess.DEVNULL)


def finish(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """runs/alpha: one session. runs/beta: 256 steps, then resumed to 512 (two W&B folders)."""
    cwd = tmp_path_factory.mktemp("store")
    common = ["--env", ENV, "--n-envs", "2", "--vec-env", "dummy", "--checkpoint-freq", "256"]
    # The two first sessions at once: most of their time is start-up, not training.
    alpha = start_training(cwd, *common, "--total-timesteps", str(STEPS), "--run-name", "alpha",
                           "--seed", "1")  # fmt: skip
    beta = start_training(cwd, *common, "--total-timesteps", "256", "--run-name", "beta")
    finish(beta)
    resumed = start_training(cwd, "--resume", "runs/beta", "--total-timesteps", str(STEPS))
    finish(alpha)
    finish(resumed)
    return cwd / "runs"


@pytest.fixture
def scratch(store, tmp_path) -> Path:
    """A copy of the store for tests that delete, cut or sync (the original stays intact)."""
    copy = tmp_path / "runs"
    shutil.copytree(store, copy, symlinks=True)
    return copy


def runs(*argv: str | Path) -> int:
    return runs_cli.main([str(a) for a in argv])


def list_json(output_dir: Path, capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert runs("list", "--json", "--output-dir", output_dir) == 0
    return {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return run_cli(["runs", *args], cwd=cwd, timeout=120, env=cli_env(**env))


def journal_by_step(run_dir: Path) -> dict[int, dict]:
    """What the trainer logged, merged per global step (the final eval shares the last step)."""
    merged: dict[int, dict] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        merged.setdefault(row["_step"], {}).update(row)
    return merged


def same_number(a, b) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------- list / show


def test_list_shows_every_run_with_state_steps_size_and_sync(store, capsys):
    listed = list_json(store, capsys)
    assert set(listed) == {"alpha", "beta"}
    for name, entry in listed.items():
        record = json.loads((store / name / "run.json").read_text())
        assert entry["run_id"] == record["run_id"]
        assert entry["state"] == "finished" and entry["steps"] == STEPS
        assert entry["env_id"] == ENV and entry["success_rate"] == record["success_rate"]
        assert entry["size_bytes"] > 100_000  # checkpoints included
        assert entry["synced"] is False and entry["sync_status"] == "no"
    assert len(listed["beta"]["wandb_dirs"]) == 2

    assert runs("list", "--output-dir", store) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        *("ID", "NAME", "ENV", "STATE", "STEPS", "STEPS/S", "SUCCESS", "SIZE", "SYNCED", "ENDED")
    ]
    assert any(line.split()[:4] == [listed["beta"]["run_id"], "beta", "CrashingReach-v0",
                                    "finished"] for line in table)  # fmt: skip


def test_a_run_is_found_by_id_name_or_path(store, capsys):
    run_id = json.loads((store / "beta" / "run.json").read_text())["run_id"]
    for spec in (run_id, "beta", str(store / "beta")):
        capsys.readouterr()
        assert runs("show", spec, "--json", "--output-dir", store) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["run_id"] == run_id and shown["name"] == "beta"
    assert shown["config"]["env_id"] == ENV
    assert shown["summary"]["state"] == "finished"
    assert [c["step"] for c in shown["checkpoints"]] == [256, 512]
    assert "checkpoints/512/model.zip" in shown["files"]
    assert shown["history_rows"] == len(journal_by_step(store / "beta"))

    assert runs("show", "beta", "--output-dir", store) == 0
    text = capsys.readouterr().out
    for heading in ("config:", "summary:", "files saved to W&B:", "checkpoints:", "synced:"):
        assert heading in text


def test_running_run_whose_process_is_gone_shows_as_crashed(scratch, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record_file = scratch / "alpha" / "run.json"
    record = json.loads(record_file.read_text())
    record.update(state="running", pid=dead.pid, ended_at=None)  # what a SIGKILL leaves
    record_file.write_text(json.dumps(record))
    assert list_json(scratch, capsys)["alpha"]["state"] == "crashed"


# ---------------------------------------------------------------- export


def test_export_csv_equals_what_was_logged(store, tmp_path, capsys):
    out = tmp_path / "beta.csv"
    assert runs("export", "beta", "--format", "csv", "-o", out, "--output-dir", store) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    logged = journal_by_step(store / "beta")
    steps = [int(row["_step"]) for row in rows]
    assert steps == sorted(logged), "one row per global step, every step, in order"
    for row in rows:
        for key, value in logged[int(row["_step"])].items():
            assert same_number(row[key], value), (row["_step"], key)

    # ... and equals the W&B transaction logs, read with the library reader.
    wandb_rows = {}
    for log_file in wandb_files(store / "beta"):
        for row in wandb_txlog.read_run(log_file).history:
            wandb_rows.setdefault(row["_step"], {}).update(row)
    assert sorted(wandb_rows) == steps
    for row in rows:
        for key, value in wandb_rows[int(row["_step"])].items():
            assert same_number(row[key], value), (row["_step"], key)


def test_export_json_has_history_config_and_summary(store, tmp_path):
    out = tmp_path / "alpha.json"
    assert runs("export", "alpha", "-o", out, "--output-dir", store) == 0  # format from suffix
    exported = json.loads(out.read_text())
    (log_file,) = wandb_files(store / "alpha")
    log = wandb_txlog.read_run(log_file)
    assert exported["history"] == log.history
    assert exported["truncated"] is False and exported["warnings"] == []
    assert exported["config"]["env_id"] == ENV and exported["config"]["seed"] == 1
    assert "_wandb" not in exported["config"]
    assert exported["summary"]["state"] == "finished"
    assert exported["summary"]["rollout/ep_rew_mean"] == log.history[-1]["rollout/ep_rew_mean"]


def test_truncated_log_exports_its_complete_part_and_says_so(scratch, tmp_path, capsys):
    (log_file,) = wandb_files(scratch / "alpha")
    full = wandb_txlog.read_run(log_file).history
    data = log_file.read_bytes()
    # A cut where the crash lost some history rows but not all of them.
    for size in range(len(data) - 50, 0, -200):
        log_file.write_bytes(data[:size])
        kept = len(wandb_txlog.read_run(log_file).history)
        if 0 < kept < len(full):
            break
    else:
        pytest.fail("no cut point leaves part of the history")
    out = tmp_path / "cut.json"
    capsys.readouterr()
    assert runs("export", "alpha", "-o", out, "--output-dir", scratch) == 0
    exported = json.loads(out.read_text())
    assert exported["history"] == full[:kept]
    assert exported["truncated"] is True
    assert "cut short" in capsys.readouterr().err
    done = cli(
        ["export", "alpha", "--format", "csv", "-o", str(tmp_path / "cut.csv")], scratch.parent
    )
    assert done.returncode == 0, done.stderr
    assert f"exported the {kept} complete rows before the cut" in done.stderr
    assert len((tmp_path / "cut.csv").read_text().splitlines()) == 1 + kept


# ---------------------------------------------------------------- plot


@pytest.fixture
def plotted(monkeypatch):
    """The curves every `runs plot` in the test hands matplotlib, and its figures."""
    calls = []
    real = plotting.plot_curves

    def spy(curves, out, *rest):
        calls.append((curves, real(curves, out, *rest)))
        return calls[-1][1]

    monkeypatch.setattr(plotting, "plot_curves", spy)
    return calls


def test_plot_writes_a_png_with_one_curve_per_run(store, tmp_path, plotted):
    import matplotlib.image

    out = tmp_path / "curves.png"
    metric = "rollout/ep_rew_mean"
    assert runs("plot", "alpha", "beta", "--metric", metric, "-o", out, "--output-dir", store) == 0
    (axes,) = plotted[0][1].axes
    assert axes.get_title() == metric
    assert sorted(line.get_label() for line in axes.get_lines()) == ["alpha", "beta"]
    for line in axes.get_lines():
        logged = journal_by_step(store / line.get_label())
        assert list(line.get_xdata()) == sorted(s for s in logged if metric in logged[s])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(out).shape[:2] == (320, 800)  # 8 x 3.2 in at 100 dpi


def test_plot_groups_runs_by_a_config_value_into_their_mean_and_a_band(store, tmp_path, plotted):
    import numpy as np

    from rl_train.store.history import read_history
    from rl_train.store.query import resolve_run

    metric, out = "rollout/ep_rew_mean", tmp_path / "grouped.png"
    assert runs("plot", "alpha", "beta", "--group-by", "env_id", "--metric", metric, "-o", out,
                "--output-dir", store) == 0  # fmt: skip
    curves, figure = plotted[-1]
    ((label, (xs, mean, low, high)),) = curves[metric].items()
    assert label == f"env_id={ENV} (2 runs)"
    steps = {
        name: read_history(resolve_run(store, name)).series(metric) for name in ("alpha", "beta")
    }
    expected = np.mean([np.interp(xs, s, v) for s, v in steps.values()], axis=0)
    np.testing.assert_allclose(mean, expected, rtol=1e-9)
    assert all(lo <= m <= hi for lo, m, hi in zip(low, mean, high, strict=True))
    assert any(hi > lo for lo, hi in zip(low, high, strict=True)), "two runs that differ: a band"
    assert figure.axes[0].collections, "the band is drawn"
    assert runs("plot", "alpha", "beta", "--group-by", "seed", "--metric", metric, "-o", out,
                "--output-dir", store) == 0  # fmt: skip
    assert sorted(plotted[-1][0][metric]) == ["seed=0 (1 run)", "seed=1 (1 run)"]
    with pytest.raises(UserError, match="run alpha has no config key 'hyperparams.nope'"):
        runs("plot", "alpha", "--group-by", "hyperparams.nope", "-o", out, "--output-dir", store)


def test_plot_smooths_and_plots_against_wall_time(store, tmp_path, plotted):
    from rl_train.store.curves import wall_times
    from rl_train.store.history import read_history
    from rl_train.store.query import resolve_run

    metric, out = "rollout/ep_rew_mean", tmp_path / "smooth.png"
    assert runs("plot", "beta", "--smooth", "2", "--x", "time", "--metric", metric, "-o", out,
                "--output-dir", store) == 0  # fmt: skip
    curves, figure = plotted[-1]
    xs, ys = curves[metric]["beta"]
    history = read_history(resolve_run(store, "beta"))
    steps, values = history.series(metric)
    wall = wall_times(history)
    assert xs == [wall[s] for s in steps] and xs == sorted(xs)  # resumed: sessions summed
    assert ys[0] == values[0] and ys[1] == (values[0] + values[1]) / 2
    assert figure.axes[0].get_xlabel() == "training wall time (s)"


def test_export_of_several_runs_is_one_long_table(store, tmp_path, capsys):
    out = tmp_path / "long.csv"
    assert runs("export", "alpha", "beta", "-o", out, "--output-dir", store) == 0
    rows = list(csv.DictReader(out.open()))
    by_run = {name: [r for r in rows if r["run"] == name] for name in ("alpha", "beta")}
    assert [int(r["_step"]) for r in by_run["alpha"]] == [128, 256, 384, 512]
    assert [int(r["_step"]) for r in by_run["beta"]] == [128, 256, 384, 512]
    assert list(rows[0])[:3] == ["run", "run_id", "_step"]
    out_json = tmp_path / "long.json"
    assert runs("export", "alpha", "beta", "-o", out_json, "--output-dir", store) == 0
    document = json.loads(out_json.read_text())
    assert [r["name"] for r in document["runs"]] == ["alpha", "beta"]


def test_plot_of_unknown_metric_names_the_known_ones(store, tmp_path):
    with pytest.raises(UserError, match="rollout/ep_rew_mean"):
        runs("plot", "alpha", "--metric", "nope", "-o", tmp_path / "x.png", "--output-dir", store)


# ---------------------------------------------------------------- clean


def test_clean_never_removes_an_unsynced_run_without_force(scratch, capsys):
    before = {p.name for p in scratch.iterdir()}
    assert runs("clean", "--older-than", "0s", "--yes", "--output-dir", scratch) == 0
    out = capsys.readouterr().out
    assert out.count("not synced; pass --force") == 2 and "nothing to delete" in out
    assert {p.name for p in scratch.iterdir()} == before

    assert runs("clean", "alpha", "--force", "--dry-run", "--output-dir", scratch) == 0
    assert "would free" in capsys.readouterr().out
    assert (scratch / "alpha").is_dir()

    # No terminal to ask on, no --yes: refuse in one line, delete nothing.
    done = cli(["clean", "alpha", "--force"], scratch.parent)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "rl-train: error: not deleting without confirmation (stdin is not a terminal); pass --yes"
    ]
    assert (scratch / "alpha").is_dir()

    assert runs("clean", "alpha", "--force", "--yes", "--output-dir", scratch) == 0
    assert "freed" in capsys.readouterr().out
    assert not (scratch / "alpha").exists() and (scratch / "beta").is_dir()


# ---------------------------------------------------------------- sync


def test_sync_dry_run_lists_a_resumed_runs_folders_oldest_first(store, capsys):
    capsys.readouterr()
    assert runs("sync", "beta", "--dry-run", "--output-dir", store) == 0
    lines = capsys.readouterr().out.splitlines()
    folders = [line.strip() for line in lines[1:]]
    assert lines[0].startswith("would sync beta")
    assert [Path(f).name for f in folders] == [p.parent.name for p in wandb_files(store / "beta")]
    assert len(folders) == 2 and folders == sorted(folders)
    assert not (store / "beta" / "sync.json").exists()


def test_sync_without_a_server_fails_in_one_line_and_records_nothing(scratch, capsys):
    started = time.monotonic()
    done = cli(["sync"], scratch.parent, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_API_KEY="x")
    assert time.monotonic() - started < 60
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("rl-train: error: W&B server http://127.0.0.1:9 is not reachable")
    assert not list(scratch.glob("*/sync.json"))
    assert {e["sync_status"] for e in list_json(scratch, capsys).values()} == {"no"}


@pytest.mark.online
def test_sync_leaves_every_history_row_on_the_server(scratch, wandb_server, capsys):
    done = cli(["sync", "beta", "--finished-only"], scratch.parent)
    assert done.returncode == 0, done.stderr
    assert "synced beta" in done.stdout
    run_id = json.loads((scratch / "beta" / "run.json").read_text())["run_id"]

    logged = journal_by_step(scratch / "beta")  # both sessions of the resumed run
    keys = {key for row in logged.values() for key in row} - {"_step"}
    for key in sorted(keys):
        on_server = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key={key}")
        steps = [m["step"] for m in on_server["metrics"]]
        assert steps == sorted(s for s, row in logged.items() if key in row), key
    assert server_get(wandb_server, f"/api/v2/runs/{run_id}")["run"]["state"] == "finished"

    listed = list_json(scratch, capsys)
    assert listed["beta"]["sync_status"] == "synced" and listed["alpha"]["sync_status"] == "no"
    assert runs("sync", "beta", "--output-dir", scratch) == 0
    assert "already synced" in capsys.readouterr().out

    assert runs("clean", "--synced", "--yes", "--output-dir", scratch) == 0
    assert not (scratch / "beta").exists() and (scratch / "alpha").is_dir()


@pytest.mark.online
def test_failed_sync_is_not_recorded(scratch, wandb_server, tmp_path):
    done = cli(["sync", "alpha"], scratch.parent, WANDB_API_KEY="", HOME=str(tmp_path))
    assert done.returncode != 0
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("rl-train: error: wandb sync of alpha failed") and "API" in line
    assert not (scratch / "alpha" / "sync.json").exists()


# ---------------------------------------------------------------- dashboard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(180)
def test_dashboard_serves_tensorboard_on_the_runs(store):
    port = free_port()
    process = start_cli(
        ["runs", "dashboard", "--port", str(port)], store.parent, stderr=subprocess.DEVNULL
    )
    try:
        line = ""
        while "TensorBoard on" not in line:  # blocks until TensorBoard is up (or we died)
            line = process.stdout.readline()
            assert line, "dashboard exited before printing its URL"
        assert "TensorBoard on 2 run(s): http://" in line, line
        url = line.split(": ", 1)[1].split()[0]
        assert f":{port}" in url
        with urllib.request.urlopen(url + "data/runs", timeout=30) as response:
            tb_runs = json.load(response)
        assert {"alpha/tb", "beta/tb"} <= set(tb_runs), tb_runs
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "dashboard stopped" in rest


def test_user_errors_are_one_line(store):
    done = cli(["show", "nope"], store.parent)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rl-train: error: no run 'nope' under runs (by id, name or path); "
        "see `rl-train runs list --output-dir runs`"
    ]
    done = cli(["sync", "--older-than", "soon"], store.parent)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
