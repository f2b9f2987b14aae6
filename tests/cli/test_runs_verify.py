"""`rl-train runs verify` and the check `runs sync` makes first, on a real offline run
damaged the ways disks and power cuts damage runs: a W&B log cut short, a checkpoint with a
flipped bit, a code snapshot changed after the fact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import run_cli, wandb_files


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("verify")
    done = run_cli(
        ["--use-simple-env", "--n-envs", "2", "--total-timesteps", "1024", "--eval-freq", "0",
         "--run-name", "v", "--output-dir", "runs", "--wandb-mode", "offline"],
        cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return cwd / "runs" / "v"


@pytest.fixture
def run_dir(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "runs" / "v")
    return tmp_path / "runs" / "v"


def runs(run_dir: Path, *args: str):
    return run_cli(["runs", *args, "--output-dir", "runs"], cwd=run_dir.parent.parent)


def one_error_line(done) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    return lines[-1]


def test_a_whole_run_verifies(run_dir):
    done = runs(run_dir, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith("v (") and ": ok; checked 1 W&B log(s), 8 rows, 8 journal steps" in line
    assert "snapshot file(s)" in line


def test_a_log_cut_short_is_damage_sync_refuses_and_repair_cuts_it_back(run_dir):
    (log_file,) = wandb_files(run_dir)
    data = log_file.read_bytes()
    log_file.write_bytes(data[:-300])  # a power cut in the middle of the last record
    done = runs(run_dir, "verify", "v")
    assert done.returncode == 1
    assert "damaged: wandb/" in done.stdout and "is cut short (cut inside a record" in done.stdout
    assert "1 of 8 journal steps are in no W&B log (steps 1,024..1,024)" in done.stdout
    line = one_error_line(runs(run_dir, "sync", "v"))
    assert line.startswith("rl-train: error: v is damaged, not synced: wandb/")
    assert line.endswith("rl-train runs verify v --repair, then sync")
    assert not (run_dir / "sync.json").exists()
    repaired = runs(run_dir, "verify", "v", "--repair")
    assert repaired.returncode == 0, repaired.stdout
    assert "cut wandb/" in repaired.stdout and "back to its last whole record" in repaired.stdout
    assert log_file.with_name(log_file.name + ".bak").read_bytes() == data[:-300]
    assert ": ok;" in repaired.stdout and "note: 1 of 8 journal steps" in repaired.stdout
    from rl_train.store import wandb_txlog

    assert not wandb_txlog.scan(log_file).truncated


def test_a_checkpoint_with_a_flipped_bit_is_damage_no_repair_hides(run_dir):
    model = next((run_dir / "checkpoints").glob("[0-9]*/model.zip"))
    data = bytearray(model.read_bytes())
    data[200] ^= 1
    model.write_bytes(bytes(data))
    for args in (("verify",), ("verify", "--repair")):
        done = runs(run_dir, *args)
        assert done.returncode == 1
        assert "damaged: checkpoint checkpoints/" in done.stdout and "checksum" in done.stdout
    line = one_error_line(runs(run_dir, "sync", "v"))
    assert "v is damaged, not synced: checkpoint" in line and "restore it" in line


def test_a_changed_code_snapshot_is_damage(run_dir):
    source = run_dir / "code" / "rl_train" / "cli" / "main.py"
    source.write_text(source.read_text() + "\n# edited after the run\n")
    done = runs(run_dir, "verify")
    assert done.returncode == 1
    assert "damaged: code snapshot: rl_train/cli/main.py has changed" in done.stdout


@pytest.mark.online
def test_sync_exclude_leaves_the_matching_files_on_this_machine_only(run_dir, wandb_server):
    """The guide's `--exclude="*.pt,*.pth"`, for our checkpoints' `*.zip`: the rows and every
    other saved file reach the server, the models do not."""
    import json

    from conftest import server_get

    done = runs(run_dir, "sync", "v", "--exclude", "*.zip,videos/*")
    assert done.returncode == 0, done.stderr
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    names = [f["name"] for f in server_get(wandb_server, f"/api/v1/runs/{run_id}/files")["files"]]
    assert any(n.startswith("checkpoints/") and n.endswith("vecnormalize.pkl") for n in names)
    assert not any(n.endswith(".zip") for n in names), names
    rows = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key=global_step")
    assert len(rows["metrics"]) == 8
    assert json.loads((run_dir / "sync.json").read_text())["excluded"] == ["*.zip", "videos/*"]
    assert list(run_dir.glob("checkpoints/*/model.zip")), "the local files stay"


@pytest.mark.online
def test_include_synced_uploads_a_synced_run_again_to_another_server(
    run_dir, wandb_server, own_server
):
    """The guide's `wandb sync --include-synced`: a run synced to one server goes whole to
    another; without the flag it counts as synced and stays."""
    import json

    from conftest import server_get

    assert runs(run_dir, "sync", "v").returncode == 0  # to CI's server
    other = own_server.env()
    again = run_cli(["runs", "sync", "v", "--output-dir", "runs"], cwd=run_dir.parent.parent,
                    env=other)  # fmt: skip
    assert again.returncode == 0 and "skip v: already synced" in again.stdout
    done = run_cli(["runs", "sync", "v", "--include-synced", "--output-dir", "runs"],
                   cwd=run_dir.parent.parent, env=other)  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    rows = server_get(own_server.url, f"/api/v2/runs/{run_id}/metrics?key=global_step")
    assert sorted(row["step"] for row in rows["metrics"]) == list(range(128, 1024 + 1, 128))
    assert json.loads((run_dir / "sync.json").read_text())["server"] == own_server.url
