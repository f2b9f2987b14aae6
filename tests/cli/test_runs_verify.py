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
