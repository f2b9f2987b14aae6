"""One trial of a sweep, in a Ray worker: an ordinary rl-train run under the sweep's folder,
trained by run_training (the trainer as a function), reporting to Tune once per evaluation.

A trial that Tune starts again (the sweep resumed after a Ctrl-C or a killed driver) finds
its run dir by its name, which comes from its place in the sweep, and continues the run
from its newest checkpoint with the same run id, as `rl-train --resume` would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import tune
from ray.train._internal.session import get_session
from ray.tune.trainable.function_trainable import wrap_function

from rl_train.config.train_config import TrainConfig
from rl_train.errors import UserError
from rl_train.evaluation.result import EvalResult
from rl_train.store import journal
from rl_train.store.layout import JOURNAL_FILE, RECORD_FILE
from rl_train.store.lock import RunInUse
from rl_train.store.progress import newest_values
from rl_train.store.record import RunRecord
from rl_train.sweep.space import TIME_ATTR
from rl_train.sweep.spec import SweepSpec
from rl_train.training.entry import run_training

# A stopped trial (ASHA, a Ctrl-C of the driver) saves its checkpoint and records its end
# before its Ray actor goes; past this the actor goes anyway (the run stays resumable).
WRAP_UP_S = 120
# A trial restarted by a resume may find its earlier process still letting go of the run.
LOCK_WAIT_S = 60
STOPPED_BY_TUNE = "Tune stopped this trial (its scheduler, or the sweep's end)"


class TrialError(RuntimeError):
    """A trial's run crashed or was refused: one line, shown in the sweep's report."""


def trial_index(trial_id: str) -> int:
    """Tune's trial ids end in the trial's number in the sweep: abc12_00003 -> 3."""
    return int(trial_id.rsplit("_", 1)[-1])


def trial_run_name(index: int, seed: int) -> str:
    return f"trial-{index:03d}-s{seed}"


class TuneReporter:
    """The trainer's on_evaluation: each evaluation is one result for Tune."""

    def __init__(self) -> None:
        self.best: float | None = None
        self.reports = 0

    def metrics(self, step: int, result: EvalResult) -> dict[str, Any]:
        metrics: dict[str, Any] = {
            TIME_ATTR: step,
            "eval/mean_reward": result.mean_return,
            "eval/mean_ep_length": result.mean_length,
        }
        if result.success_rate is not None:
            metrics["eval/success_rate"] = result.success_rate
            self.best = max(self.best or 0.0, result.success_rate)
            metrics["best_success_rate"] = self.best
        return metrics

    def __call__(self, step: int, result: EvalResult) -> str | None:
        try:
            tune.report(self.metrics(step, result))
        except SystemExit:  # how Tune tells a reporting trial to stop
            return STOPPED_BY_TUNE
        self.reports += 1
        return None


def _continue(run_dir: Path, sweep_dir: Path, reporter: TuneReporter) -> Any:
    record = RunRecord.load(run_dir)
    if record.state == "finished":  # it ended before the driver heard of it
        # Its newest validation evaluation: Tune ranks trials by those, never by the test.
        rows = journal.tail_rows(run_dir / JOURNAL_FILE)
        validated = newest_values(rows).get("eval/success_rate")
        tune.report({TIME_ATTR: record.steps, "eval/success_rate": validated or 0.0})
        return None
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return run_training(
                TrainConfig(output_dir=str(sweep_dir)), resume=str(run_dir), on_evaluation=reporter
            )
        except RunInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def run_trial(params: dict[str, Any], sweep_dir: Path) -> None:
    spec = SweepSpec.load(sweep_dir)
    name = trial_run_name(trial_index(tune.get_context().get_trial_id()), int(params["seed"]))
    run_dir = sweep_dir / name
    reporter = TuneReporter()
    try:
        if (run_dir / RECORD_FILE).is_file():
            result = _continue(run_dir, sweep_dir, reporter)
        else:
            config, explicit = spec.trial_config(params, name, sweep_dir)
            result = run_training(config, explicit, on_evaluation=reporter)
    except UserError as exc:
        raise TrialError(f"{name}: {exc}") from None
    if result is not None and result.state in ("crashed", "aborted"):
        why = result.message or f"see {run_dir}"
        raise TrialError(f"{name} {result.state} at step {result.steps:,}: {why}")


def trainable(sweep_dir: Path) -> type:
    """The Tune trainable of a sweep: run_trial, whose stop waits for the run's wrap-up.

    Tune stops a function trial by ending its training thread at its next report and then
    its actor, without waiting for the thread: our trainer would be cut in the middle of
    saving. The subclass gives the thread WRAP_UP_S to save and record the run first,
    letting each report it makes meanwhile (the final evaluation's, Tune's own last one)
    return at once.
    """

    def sweep_trial(params: dict[str, Any]) -> None:
        run_trial(params, sweep_dir)

    class SweepTrial(wrap_function(sweep_trial)):
        def cleanup(self) -> None:
            session = get_session()
            deadline = time.monotonic() + WRAP_UP_S
            try:
                while session.training_thread.is_alive() and time.monotonic() < deadline:
                    session.finish(timeout=1.0)
            finally:
                super().cleanup()

    return SweepTrial
