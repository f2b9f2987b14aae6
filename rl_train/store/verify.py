"""Is a run's data whole before it leaves the machine? `rl-train runs verify` and the check
`runs sync` makes first.

W&B users lose data to logs cut short (a power cut, a full disk: wandb #5561, #9908) and
find out on the server. Here, before anything is uploaded:

  W&B logs     every run-<id>.wandb is read to its end; a log that stops inside a record
               (or on a bad checksum) is damaged: its tail is lost, and `--repair` cuts it
               back to its last whole record (the original kept as <file>.bak)
  rows         the W&B logs' history against the run's journal (metrics.jsonl, which the
               trainer writes itself): a journal row no log holds is reported (the server
               would lack it), a row whose values differ is damage
  checkpoints  every checkpoint folder (numbered, best, best-history) against its checksums
  code         the code snapshot against its manifest (runs from before the manifest: not
               checked, and said so)

A damaged run is refused by `runs sync` in one line naming `runs verify --repair` or the
file to restore.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from rl_train.store import checkpoint, journal, wandb_txlog
from rl_train.store.layout import CHECKPOINTS_DIR, CODE_DIR, JOURNAL_FILE, wandb_logs
from rl_train.store.query import LocalRun
from rl_train.store.snapshot import MANIFEST_FILE

# The journal's own keys and the ones W&B adds: not compared.
UNCOMPARED = ("_step", "_runtime", "_timestamp", "global_step")


@dataclass
class Finding:
    what: str  # one line
    damaged: bool = True  # False: worth saying, but the data that is there is sound
    repairable: bool = False  # `runs verify --repair` fixes it


@dataclass
class Verdict:
    run: LocalRun
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was checked, for the report

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if f.damaged]


def verify_run(run: LocalRun) -> Verdict:
    verdict = Verdict(run)
    logged = _check_wandb_logs(run, verdict)
    if logged is not None:
        _check_rows(run, logged, verdict)
    _check_checkpoints(run, verdict)
    _check_code(run, verdict)
    return verdict


def _check_wandb_logs(run: LocalRun, verdict: Verdict) -> dict[int, dict] | None:
    """The history rows of all the run's W&B logs by step (None: the run has none)."""
    folders = run.wandb_dirs()
    if not folders:
        return None
    rows: dict[int, dict] = {}
    count = 0
    for folder in folders:
        for log_file in wandb_logs(folder):
            count += 1
            try:
                log = wandb_txlog.read_run(log_file)
            except (wandb_txlog.TransactionLogError, OSError) as exc:
                verdict.findings.append(Finding(f"{_rel(run, log_file)}: {exc}"))
                continue
            if log.truncated:
                last = max((row.get("_step", -1) for row in log.history), default=None)
                verdict.findings.append(
                    Finding(
                        f"{_rel(run, log_file)} is cut short ({log.problem}); what follows its "
                        f"last whole record (last row: step {last}) is lost: "
                        "`--repair` cuts it back to that record",
                        repairable=True,
                    )
                )
            for row in log.history:
                rows[int(row.get("_step", -1))] = row
    verdict.checked.append(f"{count} W&B log(s), {len(rows):,} rows")
    return rows


def _check_rows(run: LocalRun, logged: dict[int, dict], verdict: Verdict) -> None:
    try:
        kept = journal.read_rows(run.path / JOURNAL_FILE)
    except OSError:
        verdict.findings.append(Finding(f"{JOURNAL_FILE} is unreadable: rows not compared"))
        return
    cut = run.record.wandb_cut_pending  # rows a sync cuts first (a disabled-mode resume)
    if cut is not None:
        logged = {step: row for step, row in logged.items() if step <= cut}
    # W&B merges what is logged at one step into one row: so does the comparison.
    by_step: dict[int, dict] = {}
    for row in kept:
        by_step.setdefault(row["_step"], {}).update(row)
    missing = [step for step in by_step if step not in logged]
    differing = []
    for step, row in by_step.items():
        other = logged.get(step)
        if other is None:
            continue
        for key, value in row.items():
            if key in UNCOMPARED or key not in other:
                continue
            if not _same(value, other[key]):
                differing.append((step, key))
                break
    verdict.checked.append(f"{len(by_step):,} journal steps")
    if missing:
        verdict.findings.append(
            Finding(
                f"{len(missing):,} of {len(by_step):,} journal steps are in no W&B log (steps "
                f"{missing[0]:,}..{missing[-1]:,}): the server would lack them",
                damaged=False,
            )
        )
    if differing:
        step, key = differing[0]
        verdict.findings.append(
            Finding(
                f"{len(differing):,} W&B rows differ from the journal (first: step {step:,}, {key})"
            )
        )


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (a != a and b != b)
    return a == b


def _check_checkpoints(run: LocalRun, verdict: Verdict) -> None:
    root = run.path / CHECKPOINTS_DIR
    folders = checkpoint.list_checkpoints(root)
    for extra in (
        root / checkpoint.BEST_DIR,
        *sorted((root / checkpoint.BEST_HISTORY_DIR).glob("*")),
    ):
        if extra.is_dir():
            folders.append(extra)
    for folder in folders:
        try:
            checkpoint.validate(folder)
        except checkpoint.CheckpointError as exc:
            verdict.findings.append(Finding(f"checkpoint {_rel(run, folder)}: {exc}"))
    verdict.checked.append(f"{len(folders)} checkpoint(s)")


def _check_code(run: LocalRun, verdict: Verdict) -> None:
    code = run.path / CODE_DIR
    manifest = code / MANIFEST_FILE
    if not manifest.is_file():
        if code.is_dir():
            verdict.findings.append(
                Finding("the code snapshot has no manifest (an older run): not checked", False)
            )
        return
    listed = json.loads(manifest.read_text())
    for relative, digest in sorted(listed.items()):
        path = code / relative
        if not path.is_file():
            verdict.findings.append(Finding(f"code snapshot: {relative} is missing"))
        elif checkpoint.sha256_of(path) != digest:
            verdict.findings.append(Finding(f"code snapshot: {relative} has changed"))
    verdict.checked.append(f"{len(listed)} snapshot file(s)")


def repair_run(run: LocalRun) -> list[str]:
    """Cut every W&B log that is cut short back to its last whole record (the original kept
    as <file>.bak); what was repaired."""
    repaired = []
    for folder in run.wandb_dirs():
        for log_file in wandb_logs(folder):
            try:
                if wandb_txlog.cut_to_whole_records(log_file):
                    repaired.append(_rel(run, log_file))
            except (wandb_txlog.TransactionLogError, OSError):
                continue  # not a log at all: verify says so, no repair makes one
    return repaired


def _rel(run: LocalRun, path: Path) -> str:
    return str(path.relative_to(run.path))
