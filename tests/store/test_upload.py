"""How far an online upload got (wandb-core's file-stream log), and the remainder of a
transaction log that `rl-train runs sync` uploads."""

from __future__ import annotations

import json
from pathlib import Path

from rl_train.store import wandb_txlog
from rl_train.store.upload import upload_progress


def core_log(folder: Path, entries: list[dict]) -> Path:
    (folder / "logs").mkdir(parents=True)
    lines = [json.dumps({"time": "t", "level": "INFO", **e}) for e in entries]
    (folder / "logs" / "debug-internal.log").write_text("\n".join(lines) + "\n")
    return folder


def sending(offset: int, lines: int, **more) -> dict:
    return {"msg": "filestream: sending request", "history_offset": offset,
            "history_lines": lines, **more}  # fmt: skip


SENT = {"msg": "filestream: request sent", "status": "200 OK"}
REFUSED = {"msg": "api: retrying error", "error": "connect: connection refused"}


def test_acknowledged_requests_count_and_a_refused_one_does_not(tmp_path):
    folder = core_log(
        tmp_path / "run-1-abc",
        [
            {"msg": "filestream: sending request", "total_files": 1},  # config only
            SENT,
            sending(0, 12),
            SENT,
            sending(12, 30),
            REFUSED,
            REFUSED,  # the server went away: these rows never arrived
        ],
    )
    progress = upload_progress(folder)
    assert progress.history_rows == 12 and not progress.complete


def test_the_acknowledged_final_request_completes_the_upload(tmp_path):
    folder = core_log(
        tmp_path / "run-1-abc", [sending(0, 12), SENT, sending(12, 4, complete=True), SENT]
    )
    progress = upload_progress(folder)
    assert progress.history_rows == 16 and progress.complete


def test_a_failed_final_request_is_not_complete(tmp_path):
    failed = {"msg": "filestream: request sent", "status": "500 Internal Server Error"}
    folder = core_log(tmp_path / "run-1-abc", [sending(0, 4, complete=True), failed])
    assert not upload_progress(folder).complete
    assert upload_progress(folder).history_rows == 0


def test_no_log_means_nothing_acknowledged(tmp_path):
    progress = upload_progress(tmp_path / "run-1-abc")
    assert progress.history_rows == 0 and not progress.complete


def a_log(path: Path, steps: list[int]) -> Path:
    from wandb.proto import wandb_internal_pb2 as pb

    records = []
    run = pb.Record()
    run.run.run_id = "abc"
    records.append(run)
    for step in steps:
        row = pb.Record()
        item = row.history.item.add()
        item.key, item.value_json = "loss", json.dumps(step / 10)
        row.history.step.num = step
        records.append(row)
        summary = pb.Record()
        entry = summary.summary.update.add()
        entry.key, entry.value_json = "loss", json.dumps(step / 10)
        records.append(summary)
    done = pb.Record()
    done.exit.exit_code = 0
    records.append(done)
    path.write_bytes(wandb_txlog._frame([r.SerializeToString() for r in records]))
    return path


def test_the_remainder_keeps_every_record_but_the_rows_the_server_has(tmp_path):
    original = a_log(tmp_path / "run-abc.wandb", [100, 200, 300, 400, 500])
    out = tmp_path / "rest.wandb"
    assert wandb_txlog.write_without_first_rows(original, out, 2) == 3
    rest = wandb_txlog.read_run(out)
    assert [row["_step"] for row in rest.history] == [300, 400, 500]
    assert rest.run_id == "abc" and rest.exit_code == 0 and rest.summary == {"loss": 50.0}
    assert not rest.truncated
