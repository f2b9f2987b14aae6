"""Ctrl-C and SIGTERM during training: stop at the next rollout start and save.

A rollout start (the policy just updated, nothing of the next rollout collected) is the
one point from which the rest of the run is determined by what a checkpoint holds; a
stop finishes the rollout in progress and its update first: seconds at most.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback


class StopSignals:
    """First Ctrl-C / SIGTERM: stop at the next rollout start and save. Second Ctrl-C: abort now,
    but only while training runs (`abortable`): once saving has begun it finishes, since
    a run cut there would lose more than the few seconds it takes."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.abortable = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            if self.abortable:
                raise KeyboardInterrupt
            print("\nstill saving; the run ends in a moment", file=sys.stderr, flush=True)
            return
        self.signum = signum
        name = signal.Signals(signum).name
        print(
            f"\n{name}: finishing this rollout and its update, then saving a checkpoint "
            "(press Ctrl-C again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def request_stop(self, reason: str) -> None:
        """Stop at the next rollout start and save, as a first Ctrl-C would (a sweep's
        scheduler stopping a trial early: it runs in a thread, where no signal arrives)."""
        if self.signum is None:
            self.signum = signal.SIGTERM
            print(
                f"{reason}: stopping at the next rollout start and saving",
                file=sys.stderr,
                flush=True,
            )

    def __enter__(self) -> StopSignals:
        # Signal handlers can only be set in the main thread; a trainer run in another one
        # (a Ray Tune trial) is stopped by its host instead (request_stop).
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class StopAtRolloutStart(BaseCallback):
    """Ends model.learn() at the first rollout start after a stop signal, before anything
    of that rollout (or an evaluation due there) runs: the Trainer saves that state."""

    class Stop(Exception):
        """Raised out of model.learn() (a callback cannot end it from a rollout start)."""

    def __init__(self, signals: StopSignals) -> None:
        super().__init__()
        self.signals = signals

    def _on_rollout_start(self) -> None:
        if self.signals.signum is not None:
            raise self.Stop

    def _on_step(self) -> bool:
        return True
