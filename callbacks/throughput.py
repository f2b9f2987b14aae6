"""Throughput into the SB3 logger: env steps/s while collecting, rollout vs update time."""

from __future__ import annotations

import time

from stable_baselines3.common.callbacks import BaseCallback


class ThroughputCallback(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.rollout_started = 0.0
        self.rollout_ended: float | None = None
        self.rollout_start_step = 0
        self.total_rollout_s = 0.0
        self.total_update_s = 0.0

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
        self.logger.record("time/rollout_s", rollout_s)
        if rollout_s > 0:
            self.logger.record("time/env_steps_per_s", steps / rollout_s)

    def _on_step(self) -> bool:
        return True
