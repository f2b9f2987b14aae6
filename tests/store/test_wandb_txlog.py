"""Our reader of W&B's offline transaction log, against files wandb itself wrote."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rl_train.store import wandb_txlog
from rl_train.store.layout import wandb_logs

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
    run = wandb_txlog.read_run(path)
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
    full = wandb_txlog.read_run(path)
    cut = tmp_path / "cut.wandb"
    cut.write_bytes(data[: len(data) * 2 // 3])  # spans several 32 KiB blocks
    partial = wandb_txlog.read_run(cut)
    assert partial.truncated and partial.problem
    assert 0 < len(partial.history) < len(full.history)
    assert partial.history == full.history[: len(partial.history)]


def test_corrupt_byte_stops_at_bad_checksum(offline_run, tmp_path):
    _, path = offline_run
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.wandb"
    bad.write_bytes(bytes(data))
    result = wandb_txlog.scan(bad)
    assert result.truncated and "checksum" in result.problem


def test_rejects_other_files(tmp_path):
    other = tmp_path / "x.wandb"
    other.write_bytes(b"not a log at all")
    with pytest.raises(wandb_txlog.TransactionLogError):
        wandb_txlog.scan(other)


def test_cut_history_after_drops_later_rows_and_keeps_the_original(offline_run, tmp_path):
    run_id, path = offline_run
    folder = tmp_path / f"offline-run-20260101_000000-{run_id}"
    folder.mkdir()
    copy = folder / path.name
    copy.write_bytes(path.read_bytes())
    assert wandb_txlog.cut_history_after(copy, 2_000) == 39  # steps 2,100 .. 5,900
    cut = wandb_txlog.read_run(copy)
    assert [row["_step"] for row in cut.history] == [100 * i for i in range(21)]
    assert cut.config["lr"] == 0.5 and cut.exit_code == 0 and not cut.truncated
    assert wandb_txlog.read_run(folder / f"{path.name}.bak").history[-1]["_step"] == 5_900
    assert wandb_txlog.cut_history_after(copy, 2_000) == 0  # nothing left to drop
    assert wandb_txlog.logged_steps([folder]) == {100 * i for i in range(21)}
    assert wandb_logs(folder) == [copy]  # the .bak is not a log of the run


def test_cut_stale_history_removes_folders_killed_before_the_first_flush(tmp_path, capsys):
    empty = tmp_path / "offline-run-20260101_000000-abcdefgh"
    empty.mkdir()
    (empty / "run-abcdefgh.wandb").write_bytes(wandb_txlog.FILE_HEADER.pack(b":W&B", 0xBEE1, 0))
    assert not wandb_txlog.has_log(empty)
    folders = [str(empty)]
    wandb_txlog.cut_stale_history(folders, 100)
    assert folders == [] and not empty.exists()
    assert "removed empty W&B folder" in capsys.readouterr().err
