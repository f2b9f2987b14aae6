"""Throughput into the SB3 logger: env steps/s while collecting, rollout vs update time."""

from __future__ import annotations

import time

import psutil
from stable_baselines3.common.callbacks import BaseCallback


class ThroughputCallback(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.rollout_started = 0.0
        self.rollout_ended: float | None = None
        self.rollout_start_step = 0
        self.total_rollout_s = 0.0
        self.total_update_s = 0.0
        self.startup_s: float | None = None
        self.steady_started: float | None = None
        self.steady_start_step = 0
        self.steady_end: float | None = None
        self.steady_end_step = 0
        # CPU seconds of this process (all its threads) over the same span: unlike
        # steps/s, barely moved by other load on the machine (benchmarks/logging_modes.py).
        self.steady_cpu_started = 0.0
        self.steady_cpu_end = 0.0
        # The same span in wall-clock (epoch) seconds, for readers outside this process:
        # the benchmark takes the other processes' CPU over exactly this span.
        self.steady_started_at: float | None = None
        self.steady_ended_at: float | None = None

    def _on_rollout_start(self) -> None:
        now = time.perf_counter()
        if self.rollout_ended is not None:
            update_s = now - self.rollout_ended
            self.total_update_s += update_s
            self.logger.record("time/update_s", update_s)
        self.rollout_started = now
        self.rollout_start_step = self.num_timesteps

    def _on_rollout_end(self) -> None:
        now = time.perf_counter()
        rollout_s = now - self.rollout_started
        self.total_rollout_s += rollout_s
        self.rollout_ended = now
        steps = self.num_timesteps - self.rollout_start_step
        cpu, epoch = time.process_time(), time.time()
        if self.steady_started is None:  # steady state: everything after the first rollout
            self.steady_started, self.steady_start_step = now, self.num_timesteps
            self.steady_cpu_started, self.steady_started_at = cpu, epoch
        self.steady_end, self.steady_end_step = now, self.num_timesteps
        self.steady_cpu_end, self.steady_ended_at = cpu, epoch
        self.logger.record("time/rollout_s", rollout_s)
        if rollout_s > 0:
            self.logger.record("time/env_steps_per_s", steps / rollout_s)

    def _on_step(self) -> bool:
        if self.startup_s is None:  # from process start to the first env step
            self.startup_s = time.time() - psutil.Process().create_time()
            self.logger.record("time/startup_s", self.startup_s)
        return True

    def steady_steps_per_s(self) -> float | None:
        if self.steady_started is None or self.steady_end is None:
            return None
        elapsed = self.steady_end - self.steady_started
        steps = self.steady_end_step - self.steady_start_step
        return steps / elapsed if elapsed > 0 and steps > 0 else None

    def steady_cpu_ms_per_1k_steps(self) -> float | None:
        steps = self.steady_end_step - self.steady_start_step
        if steps <= 0:
            return None
        return (self.steady_cpu_end - self.steady_cpu_started) / steps * 1e6

    def timings(self) -> dict[str, float | None]:
        return {
            "startup_s": self.startup_s,
            "steady_steps_per_s": self.steady_steps_per_s(),
            "steady_main_cpu_ms_per_1k_steps": self.steady_cpu_ms_per_1k_steps(),
            "steady_main_cpu_s": self.steady_cpu_end - self.steady_cpu_started,
            "steady_started_at": self.steady_started_at,
            "steady_ended_at": self.steady_ended_at,
            "rollout_s_total": self.total_rollout_s,
            "update_s_total": self.total_update_s,
        }
