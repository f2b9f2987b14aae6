"""Evaluation during training: every `every_steps` env steps, at a rollout start, the policy
plays episodes on envs of its own; eval/* goes through the SB3 logger; the best policy so far
is kept as checkpoints/best; with a video, one filmed episode per evaluation goes to an MP4
and into the W&B run: our envs film poses, which a BackgroundRenderer draws on idle CPU
(the video reaches W&B a few rollouts later, captioned with the step it shows); other envs
film frames, written at once.

SB3's EvalCallback does most of this, but keeps the best model without its VecNormalize
statistics, not atomically, ranked by reward alone and forgotten on resume; ours ranks by
success rate, then return, and writes a checkpoint that a resumed run reads its best score
from. Evaluations happen between rollouts, where the policy has just been updated.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize

from rl_train.evaluation.episodes import evaluate
from rl_train.evaluation.renderer import BackgroundRenderer, Rendered
from rl_train.evaluation.result import EvalResult
from rl_train.store import checkpoint
from rl_train.tracking.client import Tracker
from rl_train.training.callbacks.checkpoint import save_best

VIDEO_KEY = "eval/video"
BEST_SCORE_KEY = "best_score"
NEXT_EVAL_KEY = "next_eval_step"


def best_score(root: Path) -> tuple[float, float] | None:
    """The score of checkpoints/best, as the run that wrote it measured it."""
    try:
        score = checkpoint.load_meta(root / checkpoint.BEST_DIR)["score"]
        return float(score[0]), float(score[1])
    except (checkpoint.CheckpointError, KeyError, TypeError, ValueError, IndexError):
        return None


def copy_normalization(source: VecEnv, target: VecEnv) -> None:
    """The VecNormalize statistics of `source`, copied into `target`'s. SB3's
    sync_envs_normalization wants both wrapped alike; the training envs have an EpisodeLog
    (vec/episode_log.py) that evaluation envs do not need."""
    source_norm, target_norm = unwrap_vec_normalize(source), unwrap_vec_normalize(target)
    if source_norm is not None and target_norm is not None:
        target_norm.obs_rms = copy.deepcopy(source_norm.obs_rms)
        target_norm.ret_rms = copy.deepcopy(source_norm.ret_rms)


class EvaluationCallback(BaseCallback):
    def __init__(
        self,
        eval_venv: VecEnv | None,
        every_steps: int,
        episodes: int,
        checkpoints_root: Path,
        meta: Callable[[], dict[str, Any]],
        video_dir: Path | None = None,
        tracker: Tracker | None = None,
        renderer: BackgroundRenderer | None = None,
        seed: int = 0,
        resumed: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.seed = seed  # the first validation seed: the same episodes at every evaluation
        self.resumed = resumed  # the meta of the checkpoint this session resumes from
        self.eval_venv = eval_venv
        self.every_steps = every_steps
        self.episodes = episodes
        self.root = checkpoints_root
        self.meta = meta
        self.video_dir = video_dir
        self.tracker = tracker
        self.renderer = renderer
        self.video_errors: list[str] = []
        self.video_cpu_seconds: list[float] = []  # per video, drawn in the background
        self.best: tuple[float, float] | None = None
        self.best_step: int | None = None
        self.listeners: list[Callable[[Path, int], None]] = []  # new best saved
        self.observers: list[Callable[[int, EvalResult], None]] = []  # every evaluation
        self.eval_seconds: list[float] = []
        self.last_step: int | None = None  # of the newest evaluation
        self._next_step = 0
        self._eval_logger: Logger | None = None

    def _on_training_start(self) -> None:
        # Its own logger over the same writers: an evaluation's row is dumped at its step
        # without flushing what SB3 recorded for its next rollout row.
        self._eval_logger = Logger(folder=None, output_formats=self.logger.output_formats)
        self._next_step = self._following(self.num_timesteps)
        if self.resumed is None:
            return  # a new run: no best yet (a restart from step 0 set the old one aside)
        if checkpoint.BEST_STEP_KEY not in self.resumed:  # written by an older rl-train
            self.best = best_score(self.root)
            return
        score = self.resumed.get(BEST_SCORE_KEY)
        self.best = (float(score[0]), float(score[1])) if score else None
        self.best_step = self.resumed[checkpoint.BEST_STEP_KEY]
        if self.resumed.get("config", {}).get("eval_freq") == self.every_steps:
            # An evaluation due at the resume step (a stop came before it) happens now.
            self._next_step = self.resumed.get(NEXT_EVAL_KEY, self._next_step)

    def resume_meta(self) -> dict[str, Any]:
        """What a checkpoint records for a resume to go on evaluating as this run would."""
        return {
            checkpoint.BEST_STEP_KEY: self.best_step,
            BEST_SCORE_KEY: list(self.best) if self.best is not None else None,
            NEXT_EVAL_KEY: self._next_step,
        }

    def _following(self, step: int) -> int:
        if self.every_steps <= 0 or self.eval_venv is None:
            return 2**62
        return (step // self.every_steps + 1) * self.every_steps

    def _on_rollout_start(self) -> None:
        if self.renderer is not None and self.renderer.pending:
            self._deliver(self.renderer.finished())
        if self.num_timesteps >= self._next_step:
            self.evaluate(self.episodes)
            self._next_step = self._following(self.num_timesteps)

    def _on_step(self) -> bool:
        return True

    def evaluate(self, episodes: int) -> EvalResult:
        """One validation evaluation at the current step, on the eval envs, logged, and
        kept as the best checkpoint if it is the best so far."""
        started = time.perf_counter()
        venv = self.eval_venv
        assert venv is not None
        film = 1 if self.video_dir is not None else 0
        # The training statistics, frozen: a copy, so evaluation cannot move them.
        copy_normalization(self.training_env, venv)
        step = self.num_timesteps
        # The same validation episodes at every evaluation, whatever came before: scores
        # compare policy with policy, and a resumed run evaluates as the run never stopped.
        result = evaluate(
            self.model,
            venv,
            episodes,
            self.seed,
            film=film,
            poses=self.renderer is not None,
            on_film=lambda films: self._log_video(films, step),  # drawn while the rest play
        )
        logger = self._eval_logger or self.logger
        if result.success_rate is not None:
            logger.record("eval/success_rate", result.success_rate)
        logger.record("eval/mean_reward", result.mean_return)
        logger.record("eval/mean_ep_length", result.mean_length)
        logger.dump(step=step)
        self.last_step = step
        if self.best is None or result.score() > self.best:
            self.best, self.best_step = result.score(), step
            meta = {**self.meta(), "score": list(self.best), "eval": result.as_dict()}
            path = save_best(self.model, self.root, step, meta)
            for listener in self.listeners:
                listener(path, step)
        checkpoint.fault_point("evaluation", step)
        self.eval_seconds.append(time.perf_counter() - started)
        for observer in self.observers:
            observer(step, result)
        return result

    def evaluate_final(self) -> EvalResult | None:
        """The end of training: a validation evaluation of the final policy, unless one
        just happened at this step (it may still become best)."""
        if self.eval_venv is None or self.every_steps <= 0 or self.last_step == self.num_timesteps:
            return None
        return self.evaluate(self.episodes)

    def _log_video(self, films: list[dict[str, Any]], step: int) -> None:
        from rl_train.evaluation.video import write_video

        assert self.video_dir is not None
        self.video_dir.mkdir(parents=True, exist_ok=True)
        path = self.video_dir / f"eval-{step}.mp4"
        if self.renderer is not None and "poses" in films[0]:
            self.renderer.submit(path, step, films)
            return
        write_video(path, films)
        self._deliver([Rendered(path, step)])

    def _deliver(self, videos: list[Rendered]) -> None:
        for video in videos:
            self.video_cpu_seconds.append(video.cpu_s)
            if video.error is not None:
                self.video_errors.append(f"{video.path.name}: {video.error}")
            elif self.tracker is not None:
                # At the step W&B is at now (it drops rows for steps it has passed); the
                # caption says which policy the video shows.
                caption = f"the policy at step {video.step:,}"
                self.tracker.log_video(VIDEO_KEY, video.path, self.num_timesteps, caption)

    def finish_videos(self, wait: float) -> None:
        """The videos still being drawn, into the W&B run (waiting up to `wait` s)."""
        if self.renderer is not None:
            self._deliver(self.renderer.close(wait))
            self.renderer = None
