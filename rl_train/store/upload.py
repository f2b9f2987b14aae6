"""How far an online W&B run's upload got, read from wandb-core's own log.

wandb-core streams history to the server in numbered requests and logs each one in the
run folder's logs/debug-internal.log (JSON lines): "filestream: sending request" with
`history_offset` and `history_lines`, then "filestream: request sent" with the HTTP
status, or retries. The history lines the server acknowledged are therefore the first
`max(offset + lines)` over the acknowledged requests, in the order of the history rows of
the folder's transaction log; the run is complete when the request marked `complete`
(sent by run.finish after everything else) was acknowledged. `rl-train runs sync` uploads
the rest (store/sync.py). A log without these lines (another wandb version) reads as
nothing acknowledged: the whole folder is uploaded again, which never drops a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rl_train.store.layout import OFFLINE_PREFIX

CORE_LOG = Path("logs") / "debug-internal.log"
SENDING, SENT = "filestream: sending request", "filestream: request sent"


@dataclass
class UploadProgress:
    history_rows: int = 0  # the first rows of the history the server acknowledged
    complete: bool = False  # the final request (run finished, all sent) was acknowledged

    def as_record(self) -> dict[str, int | bool]:
        return {"history_rows_uploaded": self.history_rows, "complete": self.complete}


def is_online_folder(folder: Path) -> bool:
    return not folder.name.startswith(OFFLINE_PREFIX)


def upload_progress(folder: Path) -> UploadProgress:
    """What of an online run folder's data the server acknowledged (see the module doc)."""
    progress = UploadProgress()
    try:
        lines = (folder / CORE_LOG).read_text(errors="replace").splitlines()
    except OSError:
        return progress
    pending: dict | None = None  # the request in flight: wandb-core sends one at a time
    for line in lines:
        if "filestream: " not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        message = entry.get("msg")
        if message == SENDING:
            pending = entry
        elif message == SENT and pending is not None:
            if str(entry.get("status", "")).startswith("200"):
                end = int(pending.get("history_offset", 0)) + int(pending.get("history_lines", 0))
                if "history_lines" in pending:
                    progress.history_rows = max(progress.history_rows, end)
                progress.complete = progress.complete or bool(pending.get("complete"))
            pending = None
    return progress
