"""train(session) / resume_training(session, checkpoint): one training session of a run.

The Trainer wires the pieces together: the envs (vec/), the W&B tracker started by the
session (tracking/), the PPO model (model.py), the SB3 logger's outputs (log_outputs.py)
and the callbacks; it stops on signals (signals.py), saves, evaluates (evaluation.py) and
ends with one exit code and summary (outcome.py).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

import envs
from rl_train.config.hyperparams import normalize_kwargs
from rl_train.config.train_config import (
    MAX_EVAL_ENVS,
    VALIDATION_SEEDS,
)
from rl_train.errors import UserError
from rl_train.evaluation.renderer import BackgroundRenderer
from rl_train.evaluation.result import EvalResult
from rl_train.evaluation.stats import rollout_success_rate
from rl_train.machine import float_kernels
from rl_train.store import checkpoint, journal, snapshot, upload, wandb_txlog
from rl_train.store.layout import CHECKPOINTS_DIR, CODE_DIR, JOURNAL_FILE, TB_DIR, VIDEOS_DIR
from rl_train.store.record import library_versions
from rl_train.store.sync import sync_command
from rl_train.tracking.client import Tracker
from rl_train.tracking.run_files import RunFiles
from rl_train.tracking.session import Session
from rl_train.training import outcome, run_state
from rl_train.training.callbacks.checkpoint import (
    ITERATIONS_KEY,
    CheckpointCallback,
    restore_pending_log,
    restore_rng_states,
    saved_rng_states,
)
from rl_train.training.callbacks.evaluation import EvaluationCallback
from rl_train.training.callbacks.progress import ProgressCallback
from rl_train.training.callbacks.throughput import ThroughputCallback
from rl_train.training.exactness import why_not_exact
from rl_train.training.final_test import FinalScores, score_on_test_episodes
from rl_train.training.log_outputs import JournalOutputFormat, WandbOutputFormat
from rl_train.training.model import build_model, load_model
from rl_train.training.outcome import TrainResult
from rl_train.training.signals import StopAtRolloutStart, StopSignals
from rl_train.vec.failures import (
    WORKER_DEATH,
    EnvWorkerError,
    close_quietly,
    dead_worker_message,
)
from rl_train.vec.make import make_eval_vec_env, make_vec_env

# Evaluation videos during training, drawn in the background: small, and collision shapes
# (a frame costs a quarter of 480x360 with meshes); `rl-train eval --video` for more.
TRAINING_VIDEO_SIZE, TRAINING_VIDEO_MESHES = (320, 240), False
VIDEO_WAIT_S = 60  # at the end, for the videos still being drawn


# Called after each evaluation (the final one too) with its step and result; a returned
# string is a reason to stop the run early (at the next step, saved, as on Ctrl-C).
EvaluationObserver = Callable[[int, EvalResult], "str | None"]


class Trainer:
    """One training session of a run: a fresh start or a resume from a checkpoint."""

    def __init__(
        self,
        session: Session,
        resume_from: checkpoint.Checkpoint | None = None,
        on_evaluation: EvaluationObserver | None = None,
    ):
        config = session.config
        self.on_evaluation = on_evaluation
        self.config = config
        self.resume_from = resume_from
        self.tracker_start = session.tracker_start
        self.run_dir = config.run_dir
        self.signals = StopSignals()
        self.tracker: Tracker | None = None
        self.venv: VecEnv | None = None
        self.model: PPO | None = None
        self.checkpointer: CheckpointCallback | None = None
        self.throughput: ThroughputCallback | None = None
        self.run_files: RunFiles | None = None  # checkpoints and code in the W&B run
        self.eval_venv: VecEnv | None = None  # envs of the evaluations, never trained on
        self.evaluation: EvaluationCallback | None = None
        self.renderer: BackgroundRenderer | None = None
        self.video_wait_s = 0.0  # the wrap-up's wait for videos still being drawn
        self.start_timings: dict[str, float] = {}  # seconds of the start-up's phases
        self.workers_broken = False
        self.disk_full: OSError | None = None
        self.record = session.record
        self.lock = session.lock
        self.wandb_mode = session.wandb_mode  # auto decided
        self.upload_complete = True  # online: did the server get everything
        # A resume continues from its checkpoint, or restarts from step 0 without one.
        self.resuming = session.resuming
        self.start_step = resume_from.step if resume_from is not None else 0
        self.not_exact: str | None = None  # why this resume does not continue exactly
        self.stopped_at_rollout_start = False  # a stop signal, honoured at a clean point
        if self.resuming:
            self.record.steps = self.record.session_start_step = self.start_step

    def checkpoint_meta(self) -> dict[str, Any]:
        meta = {
            "run_id": self.record.run_id,
            "run_name": self.config.run_name,
            "env_id": self.config.env_id,
            "algo": "PPO",
            "config": self.config.to_dict(),
            "versions": library_versions(),
            "machine": float_kernels(),  # what decides the float rounding (exactness.py)
        }
        if self.evaluation is not None:
            meta.update(self.evaluation.resume_meta())
        return meta

    def _start(self) -> None:
        # One learner thread: the env workers fill the cores, and the small policy gains
        # nothing from more (OpenMP threads wait for a core the workers hold).
        torch.set_num_threads(1)
        vecnormalize_path = self.resume_from.vecnormalize_path if self.resume_from else None
        started = time.perf_counter()
        try:
            self.venv = make_vec_env(self.config, vecnormalize_path)
        except ImportError as exc:
            raise UserError(f"cannot build the envs: {exc}") from None
        finally:
            # Started by the CLI before torch was imported (session.py); it has had the
            # imports and the env workers' start-up to get ready.
            self.tracker = self.tracker_start.result()
        self.start_timings["envs_s"] = time.perf_counter() - started
        if self.config.eval_freq and self.config.eval_video and envs.is_ours(self.config.env_id):
            # Our envs film poses; this draws them, started now to import in the shadow.
            self.renderer = BackgroundRenderer(
                self.config.env_id, TRAINING_VIDEO_SIZE, TRAINING_VIDEO_MESHES
            )
        eval_start: Future | None = None
        if self.config.eval_freq:
            # Its workers build their envs while this thread builds the model (one core).
            # Awaited before training starts: built during the first rollouts instead,
            # they slowed those more (benchmarks/eval_cost.py).
            eval_envs = ThreadPoolExecutor(1, thread_name_prefix="eval-envs")
            eval_start = eval_envs.submit(self._make_eval_envs)
            eval_envs.shutdown(wait=False)
        started = time.perf_counter()
        try:
            self._build_model()
        finally:
            built = time.perf_counter()
            self.start_timings["model_s"] = built - started
            if eval_start is not None:  # closed by the wrap-up, whatever happens next
                self.eval_venv = eval_start.result()
                # What the evaluation envs added to the start-up beyond the model's build
                self.start_timings["eval_envs_wait_s"] = time.perf_counter() - built
        # Everything built so far (torch, SB3, wandb's modules) lives for the whole run;
        # freezing it keeps Python's full garbage collections, triggered by the training
        # loop's temporaries, from walking those objects again and again.
        gc.collect()
        gc.freeze()

    def _build_model(self) -> None:
        assert self.tracker is not None
        if self.tracker.sync_dir is not None:
            self.record.add_wandb_dir(self.tracker.sync_dir)
        if self.resuming:
            self.replay_lost_rows()
        if self.resume_from is None:
            self.model = build_model(self.config, self.venv)
        else:
            self._load_model(self.resume_from)
        self.model.learner = self.config.learner
        self.model.update_threads = self.config.update_threads
        self.model.set_logger(self._logger())
        _arm_update_fault(self.model)
        if self.resume_from is not None:
            restore_pending_log(self.model, self.resume_from.meta)
            self.model.iterations_before = self.resume_from.meta.get(ITERATIONS_KEY, 0)

    def _load_model(self, found: checkpoint.Checkpoint) -> None:
        """The model as saved, and the envs and RNGs put back where they were."""
        assert self.venv is not None
        saved = run_state.read(found.state_path)
        self.not_exact = run_state.fits(saved, self.venv.num_envs, run_state.is_native(self.venv))
        continue_envs = self.not_exact is None
        self.model = load_model(found, self.venv, self.config.device, continue_envs)
        rngs = saved_rng_states(found, saved)
        if rngs is not None:
            restore_rng_states(rngs)
        if continue_envs:
            self.not_exact = run_state.restore(self.model, saved, self.config.env_id)
        else:  # reset at the start of learn(): not with the run's first seeds
            run_state.start_fresh_episodes(self.venv, self.config.seed, found.step)
        if self.not_exact is None and self.model.device.type == "cuda":
            self.not_exact = "the learner runs on CUDA, whose kernels are not bit-reproducible"
        if self.not_exact is None:
            self.not_exact = why_not_exact(found.meta, self.config)
        self.record.note_resume(self.not_exact)
        how = "exactly" if self.not_exact is None else f"not exactly: {self.not_exact}"
        print(
            f"resuming {self.config.run_name} from step {found.step:,} of "
            f"{self.config.total_timesteps:,} ({found.path}), {how}",
            flush=True,
        )

    def _make_eval_envs(self, film: bool | None = None) -> VecEnv:
        # The evaluation seeds every episode (validation or test seeds); the envs' own
        # streams, past those, start apart from the training envs' (seed + rank).
        raw = make_eval_vec_env(
            self.config,
            min(self.config.eval_episodes, MAX_EVAL_ENVS),
            self.config.seed + VALIDATION_SEEDS,
            film=self.config.eval_video if film is None else film,
            video_size=TRAINING_VIDEO_SIZE,
            meshes=TRAINING_VIDEO_MESHES,
            draw_later=self.renderer is not None,
        )
        kwargs = normalize_kwargs(self.config.hyperparams)
        if kwargs is None:
            return raw
        # Statistics copied from training before each evaluation; rewards left raw.
        return VecNormalize(raw, training=False, **{**kwargs, "norm_reward": False})

    def replay_lost_rows(self) -> None:
        """Re-log the rows up to the checkpoint that earlier W&B folders never got."""
        assert self.tracker is not None
        rows = journal.truncate_after(self.run_dir / JOURNAL_FILE, self.start_step)
        if not self.tracker.enabled:
            return
        logged = wandb_txlog.logged_steps(self.record.wandb_dirs)
        for row in rows:
            if row["_step"] not in logged:
                values = {k: v for k, v in row.items() if k != "_step"}
                self.tracker.log({**values, "global_step": row["_step"]}, step=row["_step"])

    def _logger(self) -> Logger:
        tb = TensorBoardOutputFormat(str(self.run_dir / TB_DIR))
        if self.resuming:
            # Hide what a crashed session logged after the step it resumes from:
            # TensorBoard drops events at steps >= purge_step from the earlier event files.
            from torch.utils.tensorboard import SummaryWriter

            tb.writer.close()
            first_new_step = self.start_step + 1
            tb.writer = SummaryWriter(str(self.run_dir / TB_DIR), purge_step=first_new_step)
        outputs = [tb, JournalOutputFormat(self.run_dir / JOURNAL_FILE)]
        if self.tracker is not None and self.tracker.enabled:
            outputs.append(WandbOutputFormat(self.tracker))
        return Logger(folder=None, output_formats=outputs)

    def _callbacks(self) -> CallbackList:
        resumed = self.resume_from.meta if self.resume_from is not None else None
        self.checkpointer = CheckpointCallback(
            self.run_dir / CHECKPOINTS_DIR,
            self.config.checkpoint_freq,
            self.config.keep_checkpoints,
            self.checkpoint_meta,
            iterations=resumed.get(ITERATIONS_KEY, 0) if resumed else 0,
        )
        self.throughput = ThroughputCallback()
        self.evaluation = EvaluationCallback(
            self.eval_venv,
            self.config.eval_freq or 0,
            self.config.eval_episodes,
            self.run_dir / CHECKPOINTS_DIR,
            self.checkpoint_meta,
            video_dir=self.run_dir / VIDEOS_DIR if self.config.eval_video else None,
            tracker=self.tracker if self.tracker is not None and self.tracker.enabled else None,
            renderer=self.renderer,
            seed=self.config.seed + VALIDATION_SEEDS,
            resumed=resumed,
        )
        self.evaluation.observers.append(self._observe)
        # A stop is honoured first thing at a rollout start, before an evaluation due there
        # (the checkpoint records it as due, so a resume makes it).
        callbacks: list[BaseCallback] = [
            StopAtRolloutStart(self.signals),
            self.throughput,
            self.evaluation,
            self.checkpointer,
        ]
        code_dir = snapshot.write_snapshot(self.run_dir / CODE_DIR)
        if self.tracker is not None and self.tracker.enabled:
            self.run_files = RunFiles(
                self.tracker, code_dir, self.run_dir, self.config.wandb_checkpoints
            )
            self.checkpointer.listeners.append(self.run_files.save_checkpoint)
            self.evaluation.listeners.append(self.run_files.save_best)
            self.run_files.save_code()
        if self.config.log_profile == "heavy":
            from rl_train.training.callbacks.detailed_logging import DetailedLoggingCallback

            callbacks.append(DetailedLoggingCallback())
        callbacks.append(ProgressCallback(self.config.total_timesteps))
        return CallbackList(callbacks)

    def _observe(self, step: int, result: EvalResult) -> None:
        if self.on_evaluation is None:
            return
        reason = self.on_evaluation(step, result)
        if reason and self.signals.abortable:  # while training; the final one is past that
            self.signals.request_stop(reason)

    def _learn(self) -> str:
        assert self.model is not None
        remaining = self.config.total_timesteps - self.model.num_timesteps
        if remaining <= 0:
            return "finished"
        # KeyboardInterrupt may only be raised in here, inside run()'s try block.
        self.signals.abortable = True
        try:
            self.model.learn(
                total_timesteps=remaining,
                callback=self._callbacks(),
                reset_num_timesteps=self.resume_from is None,
                log_interval=1,
            )
        except StopAtRolloutStart.Stop:
            self.stopped_at_rollout_start = True
            return "interrupted"
        finally:
            self.signals.abortable = False
        return "finished"  # all steps done, even if a stop came during the last update

    def _save_final(self, state: str) -> None:
        """Finished, or stopped at a rollout start: save that state, from which the rest
        of the run is determined. Crashed: nothing; mid-rollout state is no resume point,
        so a resume continues from the last checkpoint."""
        if self.model is None or self.checkpointer is None:
            return
        if state != "finished" and not self.stopped_at_rollout_start:
            return
        if self.model.num_timesteps == self.checkpointer.last_saved_step:
            return
        self.checkpointer.save(self.model.num_timesteps)

    def _resume_point(self) -> str:
        """Where a resume of this run would continue from, in words."""
        saved = self.checkpointer.last_saved_step if self.checkpointer is not None else 0
        if saved <= 0:
            return "a resume restarts it from step 0 (no checkpoint yet)"
        return f"a resume continues from the checkpoint at step {saved:,}"

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:
            self.lock.release()  # the run is saved and recorded: others may use it now

    def _run(self) -> TrainResult:
        state, message = "crashed", ""
        with self.signals:
            try:
                self._start()
                self.record.mark_running(self.tracker)
                state = self._learn()
            except KeyboardInterrupt:
                state, message = "aborted", "aborted by a second Ctrl-C; not saved"
            except WORKER_DEATH as exc:
                self.workers_broken = True
                message = f"{dead_worker_message(self.venv, exc)}; {self._resume_point()}"
            except EnvWorkerError as exc:
                self.workers_broken = True
                message = f"{exc}; {self._resume_point()}"
            except OSError as exc:
                if not outcome.is_disk_full(exc):
                    raise
                self.disk_full = exc
            finally:
                success, state = self._wrap_up(state)
            exit_code = self._exit_code(state)
            if self.disk_full is not None:
                message = outcome.disk_full_message(self.disk_full, self.run_dir)
            if message:
                print(f"rl-train: error: {message}", file=sys.stderr)
            self._print_summary(state, success)
        return TrainResult(exit_code, state, self.run_dir, self.record.steps, success, message)

    def _exit_code(self, state: str) -> int:
        return outcome.exit_code(state, self.signals.signum)

    def _writing(self, write: Callable[[], Any]) -> None:
        """Run a write of the wrap-up; once the disk is full, later writes may fail too,
        and must not hide the first error or stop the rest of the wrap-up."""
        try:
            write()
        except OSError as exc:
            if not outcome.is_disk_full(exc):
                raise
            self.disk_full = self.disk_full or exc

    def _wrap_up(self, state: str) -> tuple[float | None, str]:
        """Save, evaluate, close and record; returns the success rate and the final state."""
        success = None
        if state != "aborted" and self.model is not None and self.disk_full is None:
            self._writing(lambda: self._save_final(state))
        if state == "finished" and self.disk_full is None and self.model is not None:
            success = self._final_evaluation()
            self._writing(lambda: self.model.logger.dump(step=self.model.num_timesteps))
        if self.run_files is not None:
            self._writing(self.run_files.finish_checkpoints)
        # An abort's KeyboardInterrupt may have cut a message to a worker in half: SB3's
        # close() would then wait forever on that pipe, so the workers are ended instead.
        broken = self.workers_broken or state == "aborted"
        if self.eval_venv is not None:
            close_quietly(self.eval_venv, workers_broken=broken)
        if self.venv is not None:
            close_quietly(self.venv, workers_broken=broken)
        if self.model is not None:
            self._writing(self.model.logger.close)
        steps = self.model.num_timesteps if self.model is not None else 0
        if self.disk_full is not None:
            state = "crashed"
        if state not in ("finished", "interrupted"):
            if self.checkpointer is not None and self.checkpointer.last_saved_step >= 0:
                steps = self.checkpointer.last_saved_step  # what a resume starts from
        self._writing(
            lambda: self.record.mark_ended(state, steps, success, rollout_success_rate(self.model))
        )
        self._finish_videos()  # last: the wrap-up's other work overlaps the drawing
        if self.tracker is not None:
            self.tracker.update_summary({"state": state, "final_success_rate": success})
            self.tracker.finish(self._exit_code(state))
            self.record.timings.update(self.tracker.timings())
            self._note_upload()
        if self.throughput is not None:
            self.record.timings.update(self.throughput.timings())
        self.record.timings.update(self.start_timings)
        if self.evaluation is not None:
            self.record.timings["eval_s"] = self.evaluation.eval_seconds
            if self.config.eval_video:
                self.record.timings["video_cpu_s"] = self.evaluation.video_cpu_seconds
                self.record.timings["video_wait_s"] = self.video_wait_s
        self._writing(self.record.save)
        return success, state

    def _note_upload(self) -> None:
        """Online: record how far the upload got; say in one line what the server lacks."""
        tracker = self.tracker
        if tracker is None or tracker.mode != "online" or tracker.sync_dir is None:
            return
        progress = upload.upload_progress(tracker.sync_dir)
        self.record.uploads[tracker.sync_dir.name] = progress.as_record()
        self.upload_complete = progress.complete
        if progress.complete:
            return
        print(
            f"rl-train: warning: W&B did not finish uploading within "
            f"{tracker.finish_timeout:g} s (--wandb-finish-timeout): the server has the first "
            f"{progress.history_rows} history rows and not the rest nor the run's end; all of "
            f"it is kept in {tracker.sync_dir}: upload the rest with "
            f"`{sync_command(self.run_dir)}`",
            file=sys.stderr,
            flush=True,
        )

    def _finish_videos(self) -> None:
        if self.evaluation is None:
            if self.renderer is not None:
                self.renderer.close(0)
            return
        if self.renderer is not None and self.renderer.pending:
            count = len(self.renderer.pending)
            print(f"rl-train: drawing {count} evaluation video(s)", file=sys.stderr)
        started = time.perf_counter()
        self.evaluation.finish_videos(VIDEO_WAIT_S)
        self.video_wait_s = time.perf_counter() - started
        for error in self.evaluation.video_errors:
            print(f"rl-train: warning: no video {error}", file=sys.stderr)

    def _final_evaluation(self) -> float | None:
        """The end of training: a last validation evaluation (it may choose best), then the
        test of the final policy and of best (final_test.py); returns the final policy's
        test success rate."""
        if self.model is None or self.venv is None:
            return None
        try:
            if self.evaluation is not None:
                self._writing(self.evaluation.evaluate_final)
            if self.eval_venv is None:  # --eval-freq 0: envs of their own for the test
                self.eval_venv = self._make_eval_envs(film=False)
            scores: list[FinalScores] = []
            best_dir = self.run_dir / CHECKPOINTS_DIR / checkpoint.BEST_DIR
            self._writing(
                lambda: scores.append(
                    score_on_test_episodes(
                        self.model, self.venv, self.eval_venv, self.config, best_dir
                    )
                )
            )
        except EnvWorkerError as exc:
            self.workers_broken = True
            print(f"rl-train: warning: no final evaluation: {exc}", file=sys.stderr)
            return None
        if not scores:
            return None
        final = scores[0]
        self.record.test = final.as_record()
        for key, value in final.log_values().items():
            self.model.logger.record(key, value)
        return final.final.success_rate

    def _print_summary(self, state: str, success: float | None) -> None:
        lines = outcome.summary_lines(
            self.record,
            state,
            self.config.total_timesteps,
            self.run_dir,
            self.wandb_mode,
            success,
            self.upload_complete,
        )
        print("\n".join(lines), flush=True)


def _arm_update_fault(model: PPO) -> None:
    """RL_TRAIN_FAULT=update:<step>: crash tests SIGKILL the trainer after the first
    gradient step of the update that follows the rollout ending at <step>."""
    if checkpoint.FAULT.startswith("update:"):
        model.policy.optimizer.register_step_post_hook(
            lambda *_: checkpoint.fault_point("update", model.num_timesteps)
        )


def train(session: Session, on_evaluation: EvaluationObserver | None = None) -> TrainResult:
    """A new run, begun by session.begin_fresh."""
    return Trainer(session, on_evaluation=on_evaluation).run()


def resume_training(
    session: Session,
    found: checkpoint.Checkpoint | None,
    on_evaluation: EvaluationObserver | None = None,
) -> TrainResult:
    """A run continued from `found` (None: restarted from step 0, as it has no valid
    checkpoint), begun by session.begin_resume."""
    config = session.config
    trainer = Trainer(session, resume_from=found, on_evaluation=on_evaluation)
    cut_at = trainer.record.wandb_cut(trainer.start_step, deferred=trainer.wandb_mode == "disabled")
    if cut_at is not None:
        wandb_txlog.cut_stale_history(trainer.record.wandb_dirs, cut_at)
    if found is None:
        print(
            f"no checkpoint to resume {config.run_name} from: restarting it from step 0 of "
            f"{config.total_timesteps:,} (same run id and W&B run; what it logged is cut)",
            flush=True,
        )
    return trainer.run()
