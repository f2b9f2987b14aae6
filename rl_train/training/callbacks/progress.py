"""Progress for people: a live line on a terminal, a plain line every 10% otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from stable_baselines3.common.callbacks import BaseCallback

from rl_train.evaluation.stats import rollout_success_rate
from rl_train.units import format_duration


class ProgressCallback(BaseCallback):
    REDRAW_EVERY_S = 0.25

    def __init__(self, total_timesteps: int, stream: TextIO | None = None) -> None:
        super().__init__()
        self.total = total_timesteps
        self.stream = stream or sys.stdout
        self.is_tty = self.stream.isatty()
        self.started = 0.0
        self.start_step = 0
        self.last_draw = 0.0
        self.next_line_fraction = 0.1

    def _on_training_start(self) -> None:
        self.started = time.perf_counter()
        self.start_step = self.num_timesteps
        done_tenths = int(10 * self.num_timesteps / self.total)
        self.next_line_fraction = (done_tenths + 1) / 10

    def _success_rate(self) -> str:
        rate = rollout_success_rate(self.model)
        return "" if rate is None else f"  success {rate:.0%}"

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        done = self.num_timesteps - self.start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        remaining = max(0, self.total - self.num_timesteps)
        eta = format_duration(remaining / rate) if rate > 0 else "?"
        fraction = min(1.0, self.num_timesteps / self.total)
        return (
            f"{fraction:4.0%} {self.num_timesteps:,}/{self.total:,} steps  "
            f"{rate:,.0f} steps/s  ETA {eta}{self._success_rate()}"
        )

    def _on_step(self) -> bool:
        now = time.perf_counter()
        if self.is_tty:
            if now - self.last_draw >= self.REDRAW_EVERY_S:
                self.last_draw = now
                bar = "#" * int(20 * min(1.0, self.num_timesteps / self.total))
                self.stream.write(f"\r[{bar:<20}] {self.line()}\033[K")
                self.stream.flush()
        elif self.num_timesteps >= self.next_line_fraction * self.total:
            self.next_line_fraction += 0.1
            self.stream.write(self.line() + "\n")
            self.stream.flush()
        return True

    def _on_training_end(self) -> None:
        if self.is_tty:
            self.stream.write(f"\r{self.line()}\033[K\n")
            self.stream.flush()
