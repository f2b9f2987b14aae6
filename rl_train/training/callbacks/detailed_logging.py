"""`--log-profile heavy`: per-episode metrics and gradient/parameter histograms.

Everything goes through the SB3 logger, so TensorBoard, W&B and metrics.jsonl get the
same keys (histograms: TensorBoard histograms and W&B histograms; the journal keeps
scalars only). What a step costs in Python stays small: `_on_step` looks at the
`dones` array once per vector step and only touches `infos` when an episode ended;
rows are written once per rollout.

- Per-episode rows: every env step at which episodes ended gets its own row, at that
  global step, with the mean return / length / success of those episodes and their
  count (with 16 envs, several episodes usually end on the same step). They are
  written at the end of each rollout, before SB3's own rollout row, so steps stay
  increasing in W&B.
- Per rollout, in SB3's row: histograms of the rollout's episode returns and lengths,
  of every policy parameter, and of every gradient of the latest update (its last
  mini-batch), plus each parameter's gradient L2 norm.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger


class DetailedLoggingCallback(BaseCallback):
    def __init__(self, histograms_every: int = 1) -> None:
        super().__init__()
        self.histograms_every = max(1, histograms_every)
        self.rollouts = 0
        # (global step, return, length, success or nan) of episodes not yet written
        self.pending: list[tuple[int, float, int, float]] = []
        self.rollout_returns: list[float] = []
        self.rollout_lengths: list[int] = []
        self.episode_logger: Logger | None = None

    def _on_training_start(self) -> None:
        # A second logger over the same writers: per-episode rows are dumped at their
        # own steps without flushing what other callbacks recorded for SB3's row.
        self.episode_logger = Logger(folder=None, output_formats=self.logger.output_formats)

    def _on_step(self) -> bool:
        dones = self.locals.get("dones")
        if dones is None or not dones.any():
            return True
        infos = self.locals["infos"]
        for index in np.flatnonzero(dones):
            info = infos[index]
            episode = info.get("episode")
            if episode is None:
                continue
            success = info.get("is_success")
            self.pending.append(
                (
                    self.num_timesteps,
                    float(episode["r"]),
                    int(episode["l"]),
                    float(success) if success is not None else float("nan"),
                )
            )
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        self._write_episode_rows()
        if self.rollouts % self.histograms_every == 0:
            self._record_histograms()

    def _write_episode_rows(self) -> None:
        if not self.pending or self.episode_logger is None:
            return
        by_step: dict[int, list[tuple[float, int, float]]] = defaultdict(list)
        for step, episode_return, length, success in self.pending:
            by_step[step].append((episode_return, length, success))
            self.rollout_returns.append(episode_return)
            self.rollout_lengths.append(length)
        self.pending.clear()
        for step in sorted(by_step):
            returns, lengths, successes = (
                np.array(column) for column in zip(*by_step[step], strict=True)
            )
            self.episode_logger.record("episode/return", float(returns.mean()))
            self.episode_logger.record("episode/length", float(lengths.mean()))
            self.episode_logger.record("episode/count", len(returns))
            if not np.isnan(successes).all():
                self.episode_logger.record("episode/success", float(np.nanmean(successes)))
            self.episode_logger.dump(step=step)

    def _record_histograms(self) -> None:
        record = self.logger.record
        if self.rollout_returns:
            record("episode/return_hist", np.array(self.rollout_returns, dtype=np.float32))
            record("episode/length_hist", np.array(self.rollout_lengths, dtype=np.float32))
        self.rollout_returns, self.rollout_lengths = [], []
        for name, parameter in self.model.policy.named_parameters():
            record(f"params/{name}", _numpy(parameter))
            if parameter.grad is not None:  # None before the first update
                record(f"grads/{name}", _numpy(parameter.grad))
                record(f"grad_norm/{name}", float(parameter.grad.norm()))


def _numpy(tensor: Any) -> np.ndarray:
    # A copy: the writers run later in this dump, and training must not change it first.
    return tensor.detach().cpu().numpy().ravel().copy()
