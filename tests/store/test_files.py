"""The files of a run dir: atomic writes, checkpoint folders, the journal, display units."""

from __future__ import annotations

import json

import pytest
from fake_runs import add_checkpoint

from rl_train.errors import UserError
from rl_train.store import checkpoint, journal
from rl_train.store.atomic import write_text_atomic
from rl_train.units import format_duration, human_size, parse_age


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run.json"
    write_text_atomic(path, "one")
    write_text_atomic(path, "two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_checkpoints_validate_by_checksum_and_prune_to_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        add_checkpoint(tmp_path, step, "e")
    root = tmp_path / "checkpoints"
    assert not (root / "latest").exists(), "the newest valid checkpoint is found, not named"
    assert checkpoint.validate(root / "4").step == 4
    (root / "4" / checkpoint.MODEL_FILE).write_bytes(b"x")
    found, warnings = checkpoint.find_latest_valid(root)
    assert found.step == 3 and "checksum" in warnings[0]
    leftover = checkpoint.new_tmp_dir(root, 5)
    removed = checkpoint.prune(root, keep=2)
    assert [p.name for p in removed] == ["1", "2"]
    assert [p.name for p in checkpoint.list_checkpoints(root)] == ["3", "4"]
    assert leftover.exists()  # this process's own temporary folder may still be in use


def best(root, step: int) -> None:
    tmp = checkpoint.new_tmp_dir(root, step)
    (tmp / checkpoint.MODEL_FILE).write_bytes(b"best %d" % step)
    checkpoint.commit_checkpoint(tmp, root, step, {}, name=checkpoint.BEST_DIR)


def numbered(root, step: int, best_step: int | None) -> None:
    tmp = checkpoint.new_tmp_dir(root, step)
    (tmp / checkpoint.MODEL_FILE).write_bytes(b"model %d" % step)
    checkpoint.commit_checkpoint(tmp, root, step, {checkpoint.BEST_STEP_KEY: best_step})


def test_a_replaced_best_is_kept_while_a_checkpoint_names_it(tmp_path):
    root = tmp_path / "checkpoints"
    best(root, 10)
    numbered(root, 10, 10)
    best(root, 20)  # the best of step 10 goes to the history
    numbered(root, 20, 20)
    assert (root / "best-history" / "10").is_dir()
    numbered(root, 30, 20)
    checkpoint.prune(root, keep=2)  # checkpoint 10, the one naming best 10, goes
    assert not (root / "best-history").exists(), "no former best is named: nothing is left"
    assert checkpoint.load_meta(root / "best")["step"] == 20


def test_a_resume_from_an_older_checkpoint_sets_the_future_aside_and_restores_its_best(
    tmp_path,
):
    root = tmp_path / "checkpoints"
    best(root, 10)
    numbered(root, 10, 10)
    numbered(root, 20, 10)
    best(root, 25)
    numbered(root, 30, 25)
    aside = checkpoint.set_aside_future(root, 20, best_step=10)
    assert sorted(p.name for p in aside.iterdir()) == ["30", "best"]
    assert [p.name for p in checkpoint.list_checkpoints(root)] == ["10", "20"]
    assert checkpoint.load_meta(root / "best")["step"] == 10
    assert checkpoint.set_aside_future(root, 20, best_step=10) is None, "nothing left to move"


def test_a_checkpoint_without_meta_is_incomplete(tmp_path):
    folder = tmp_path / "7"
    folder.mkdir()
    with pytest.raises(checkpoint.CheckpointError, match="incomplete"):
        checkpoint.validate(folder)


def test_journal_keeps_complete_lines_and_truncates_at_a_step(tmp_path):
    path = tmp_path / "metrics.jsonl"
    writer = journal.JournalWriter(path)
    for step in (100, 200, 300):
        writer.append(step, {"loss": step / 100})
    writer.close()
    with open(path, "a") as f:
        f.write('{"_step": 400, "lo')  # cut by a crash
    assert [row["_step"] for row in journal.read_rows(path)] == [100, 200, 300]
    kept = journal.truncate_after(path, 200)
    assert kept == [{"_step": 100, "loss": 1.0}, {"_step": 200, "loss": 2.0}]
    assert [json.loads(line)["_step"] for line in path.read_text().splitlines()] == [100, 200]


def test_units_read_and_write_as_people_do():
    assert format_duration(65) == "1m05s" and format_duration(7260) == "2h01m"
    assert human_size(512) == "512 B" and human_size(3.5 * 1024**2) == "3.5 MB"
    assert parse_age("2d") == 2 * 86400 and parse_age(" 30m ") == 1800
    with pytest.raises(UserError, match="30m, 12h"):
        parse_age("soon")
