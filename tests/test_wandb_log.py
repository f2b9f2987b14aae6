"""Our reader of W&B's offline transaction log, against files wandb itself wrote."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rl_train import wandb_log

WRITE_RUN = textwrap.dedent(
    """
    import sys, wandb
    run = wandb.init(project="t", mode="offline", dir=sys.argv[1], config={"lr": 0.5},
                     settings=wandb.Settings(console="off", silent=True))
    for i in range(int(sys.argv[2])):
        run.log({"loss": 1.0 / (i + 1), "nested/x": i, "blob": "x" * 3000}, step=100 * i)
    run.finish()
    print(run.id)
    """
)


def write_offline_run(tmp_path: Path, rows: int) -> tuple[str, Path]:
    done = subprocess.run(
        [sys.executable, "-c", WRITE_RUN, str(tmp_path), str(rows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    run_id = done.stdout.strip().splitlines()[-1]
    (path,) = tmp_path.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb")
    return run_id, path


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> tuple[str, Path]:
    return write_offline_run(tmp_path_factory.mktemp("wandb"), rows=60)


def test_reads_history_config_and_exit(offline_run):
    run_id, path = offline_run
    run = wandb_log.read_run(path)
    assert run.run_id == run_id
    assert run.config["lr"] == 0.5
    assert [row["_step"] for row in run.history] == [100 * i for i in range(60)]
    assert run.history[3]["loss"] == pytest.approx(0.25)
    assert run.history[3]["nested/x"] == 3
    assert run.exit_code == 0
    assert not run.truncated


def test_truncated_file_yields_complete_prefix(offline_run, tmp_path):
    _, path = offline_run
    data = path.read_bytes()
    full = wandb_log.read_run(path)
    cut = tmp_path / "cut.wandb"
    cut.write_bytes(data[: len(data) * 2 // 3])  # spans several 32 KiB blocks
    partial = wandb_log.read_run(cut)
    assert partial.truncated and partial.problem
    assert 0 < len(partial.history) < len(full.history)
    assert partial.history == full.history[: len(partial.history)]


def test_corrupt_byte_stops_at_bad_checksum(offline_run, tmp_path):
    _, path = offline_run
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.wandb"
    bad.write_bytes(bytes(data))
    result = wandb_log.scan(bad)
    assert result.truncated and "checksum" in result.problem


def test_rejects_other_files(tmp_path):
    other = tmp_path / "x.wandb"
    other.write_bytes(b"not a log at all")
    with pytest.raises(wandb_log.TransactionLogError):
        wandb_log.scan(other)
