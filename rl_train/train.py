"""train(config): envs, PPO (new or resumed), logging, checkpoints, then one summary."""

from __future__ import annotations

import errno
import gc
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.utils import LinearSchedule
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from callbacks.checkpoint import CheckpointCallback, restore_pending_log, restore_rng_states
from callbacks.progress import ProgressCallback, format_duration
from callbacks.throughput import ThroughputCallback
from callbacks.wandb_callback import WandbCallback, WandbOutputFormat
from rl_train import checkpoint, code_snapshot, journal, run_record, tracking
from rl_train.config import SCHEDULED_KEYS, TrainConfig
from rl_train.errors import UserError
from rl_train.session import Session
from rl_train.shm_vec_env import EnvWorkerError
from rl_train.vec import make_vec_env

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
EXIT_CODES = {"finished": 0, "crashed": 1, signal.SIGINT: 130, signal.SIGTERM: 143}
EVAL_EPISODES = 50
# What a dead worker looks like from SB3's SubprocVecEnv (our shm backend raises its own).
WORKER_DEATH = (EOFError, BrokenPipeError, ConnectionResetError)


@dataclass
class TrainResult:
    exit_code: int
    state: str
    run_dir: Path
    steps: int
    success_rate: float | None = None


class StopSignals:
    """First Ctrl-C / SIGTERM: stop at the next step and save. Second Ctrl-C: abort now,
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
            f"\n{name}: stopping at the next step and saving a checkpoint "
            "(press Ctrl-C again to abort without saving)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class StopOnSignal(BaseCallback):
    def __init__(self, signals: StopSignals) -> None:
        super().__init__()
        self.signals = signals

    def _on_step(self) -> bool:
        return self.signals.signum is None


def as_schedule(value: float | str) -> float | LinearSchedule:
    """`lin_0.001` (rl-zoo's spelling): decays linearly from 0.001 to 0 over the run.
    SB3's own LinearSchedule pickles into model.zip, so a resume continues it exactly."""
    if isinstance(value, str):
        return LinearSchedule(float(value.removeprefix("lin_")), 0.0, 1.0)
    return value


def build_model(config: TrainConfig, venv: VecEnv) -> PPO:
    kwargs = {
        k: v
        for k, v in config.hyperparams.items()
        if k not in ("n_timesteps", "normalize", "policy")
    }
    for key in SCHEDULED_KEYS:
        if key in kwargs:
            kwargs[key] = as_schedule(kwargs[key])
    policy = config.hyperparams.get("policy", "MlpPolicy")
    rollout_size = kwargs.get("n_steps", 2048) * config.n_envs
    if kwargs.get("batch_size", 64) > rollout_size:
        # Few envs make a rollout smaller than a mini-batch: use the whole rollout.
        kwargs["batch_size"] = rollout_size
    try:
        return PPO(policy, venv, seed=config.seed, device="cpu", verbose=0, **kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise UserError(f"invalid PPO hyperparameters: {exc}; check --config") from None


def evaluate_success(model: PPO, venv: VecEnv, episodes: int) -> float | None:
    """Deterministic success rate over `episodes` fresh episodes, stats frozen."""
    if isinstance(venv, VecNormalize):
        venv.training = False
    observations = venv.reset()
    successes: list[float] = []
    for _ in range(10_000):  # bound: an env that never ends must not hang us
        actions, _ = model.predict(observations, deterministic=True)
        observations, _, dones, infos = venv.step(actions)
        for done, info in zip(dones, infos, strict=True):
            if done and "is_success" in info:
                successes.append(float(info["is_success"]))
        if len(successes) >= episodes:
            break
    return float(np.mean(successes)) if successes else None


def _worker_processes(venv: VecEnv) -> list:
    return list(getattr(venv.unwrapped, "processes", []))


def close_quietly(venv: VecEnv, workers_broken: bool) -> None:
    """After a worker died, SB3's close() would wait forever on the others: end them."""
    if workers_broken:
        for process in _worker_processes(venv):
            process.terminate()
            process.join(timeout=5)
        return
    try:
        venv.close()
    except (*WORKER_DEATH, OSError):
        for process in _worker_processes(venv):
            process.terminate()


def dead_worker_message(venv: VecEnv, exc: BaseException) -> str:
    dead = []
    for index, process in enumerate(_worker_processes(venv)):
        process.join(timeout=1.0)
        code = process.exitcode
        if code is None:
            continue
        if code < 0:
            dead.append(f"env {index} was killed by {signal.Signals(-code).name}")
        else:
            dead.append(f"env {index} raised an exception (its traceback is above)")
    who = "; ".join(dead) if dead else f"an env worker stopped answering ({type(exc).__name__})"
    return f"env worker died: {who}; the last good state is checkpointed"


class Trainer:
    """One training session of a run: a fresh start or a resume from a checkpoint."""

    def __init__(self, session: Session, resume_from: checkpoint.Checkpoint | None = None):
        config = session.config
        self.config = config
        self.resume_from = resume_from
        self.tracker_start = session.tracker_start
        self.run_dir = config.run_dir
        self.signals = StopSignals()
        self.tracker: tracking.Tracker | None = None
        self.venv: VecEnv | None = None
        self.model: PPO | None = None
        self.checkpointer: CheckpointCallback | None = None
        self.throughput: ThroughputCallback | None = None
        self.workers_broken = False
        self.disk_full: OSError | None = None
        self.record = session.record
        if resume_from is not None:
            self.record.steps = self.record.session_start_step = resume_from.step

    def checkpoint_meta(self) -> dict[str, Any]:
        return {
            "run_id": self.record.run_id,
            "run_name": self.config.run_name,
            "env_id": self.config.env_id,
            "algo": "PPO",
            "config": self.config.to_dict(),
            "versions": run_record.library_versions(),
        }

    def _start(self) -> None:
        # One learner thread: the env workers fill the cores, and the 64x64 policy is too
        # small to gain from more (benchmarks/throughput.py measured 2 threads 3-10x slower
        # per update on 2 cores: OpenMP threads wait for a core the workers hold).
        torch.set_num_threads(1)
        vecnormalize_path = self.resume_from.vecnormalize_path if self.resume_from else None
        try:
            self.venv = make_vec_env(self.config, vecnormalize_path)
        except ImportError as exc:
            raise UserError(f"cannot build the envs: {exc}") from None
        finally:
            # Started by the CLI before torch was imported (session.py); it has had the
            # imports and the env workers' start-up to get ready.
            self.tracker = self.tracker_start.result()
        if self.tracker.sync_dir is not None:
            self.record.add_wandb_dir(self.tracker.sync_dir)
        if self.resume_from is not None:
            self.replay_lost_rows()
        if self.resume_from is None:
            self.model = build_model(self.config, self.venv)
        else:
            self.model = PPO.load(self.resume_from.model_path, env=self.venv, device="cpu")
            if self.resume_from.rng_path is not None:
                restore_rng_states(self.resume_from.rng_path)
        self.model.set_logger(self._logger())
        if self.resume_from is not None:
            restore_pending_log(self.model, self.resume_from.meta)
        # Everything built so far (torch, SB3, wandb's modules) lives for the whole run;
        # freezing it keeps Python's full garbage collections, triggered by the training
        # loop's temporaries, from walking those objects again and again.
        gc.collect()
        gc.freeze()

    def replay_lost_rows(self) -> None:
        """Re-log the rows up to the checkpoint that earlier W&B folders never got."""
        from rl_train import wandb_log

        assert self.tracker is not None and self.resume_from is not None
        rows = journal.truncate_after(self.run_dir / journal.JOURNAL_FILE, self.resume_from.step)
        if not self.tracker.enabled:
            return
        logged = set()
        for folder in self.record.wandb_dirs:
            for log_file in Path(folder).glob("run-*.wandb"):
                logged.update(row.get("_step") for row in wandb_log.read_run(log_file).history)
        for row in rows:
            if row["_step"] not in logged:
                values = {k: v for k, v in row.items() if k != "_step"}
                self.tracker.log({**values, "global_step": row["_step"]}, step=row["_step"])

    def _logger(self) -> Logger:
        tb = TensorBoardOutputFormat(str(self.run_dir / "tb"))
        if self.resume_from is not None:
            # Hide what a crashed session logged after its last checkpoint: TensorBoard
            # drops events at steps >= purge_step from the earlier event files.
            from torch.utils.tensorboard import SummaryWriter

            tb.writer.close()
            first_new_step = self.resume_from.step + 1
            tb.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=first_new_step)
        outputs = [tb, journal.JournalOutputFormat(self.run_dir / journal.JOURNAL_FILE)]
        if self.tracker is not None and self.tracker.enabled:
            outputs.append(WandbOutputFormat(self.tracker))
        return Logger(folder=None, output_formats=outputs)

    def _callbacks(self) -> CallbackList:
        self.checkpointer = CheckpointCallback(
            self.run_dir / "checkpoints",
            self.config.checkpoint_freq,
            self.config.keep_checkpoints,
            self.checkpoint_meta,
        )
        self.throughput = ThroughputCallback()
        callbacks: list[BaseCallback] = [self.throughput, self.checkpointer]
        if self.tracker is not None and self.tracker.enabled:
            code_dir = code_snapshot.write_snapshot(self.run_dir / "code")
            wandb_callback = WandbCallback(self.tracker, code_dir)
            self.checkpointer.listeners.append(wandb_callback.save_checkpoint)
            callbacks.append(wandb_callback)
        else:
            code_snapshot.write_snapshot(self.run_dir / "code")
        if self.config.log_profile == "heavy":
            from callbacks.detailed_logging import DetailedLoggingCallback

            callbacks.append(DetailedLoggingCallback())
        callbacks.append(ProgressCallback(self.config.total_timesteps))
        callbacks.append(StopOnSignal(self.signals))
        return CallbackList(callbacks)

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
        finally:
            self.signals.abortable = False
        return "interrupted" if self.signals.signum is not None else "finished"

    def _save_final(self, state: str) -> None:
        """Finished: save the end state. Stopped or crashed: the last rollout start."""
        if self.model is None or self.checkpointer is None:
            return
        if state != "finished":
            # The policy was last updated at the current rollout's start; steps collected
            # since then were never trained on, so the checkpoint goes back to that step.
            self.model.num_timesteps = self.checkpointer.rollout_start_step
        if self.model.num_timesteps == self.checkpointer.last_saved_step:
            return
        self.checkpointer.save(self.model.num_timesteps)

    def run(self) -> TrainResult:
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
                message = dead_worker_message(self.venv, exc)
            except EnvWorkerError as exc:
                self.workers_broken = True
                message = f"{exc}; the last good state is checkpointed"
            except OSError as exc:
                if exc.errno not in DISK_FULL_ERRNOS:
                    raise
                self.disk_full = exc
            finally:
                success, state = self._wrap_up(state)
            exit_code = self._exit_code(state)
            if self.disk_full is not None:
                message = self._disk_full_message(self.disk_full)
            if message:
                print(f"rl-train: error: {message}", file=sys.stderr)
            self._print_summary(state, success)
        return TrainResult(exit_code, state, self.run_dir, self.record.steps, success)

    def _exit_code(self, state: str) -> int:
        if state == "interrupted":
            return EXIT_CODES[self.signals.signum or signal.SIGINT]
        if state == "aborted":
            return 130
        return EXIT_CODES.get(state, 1)

    def _disk_full_message(self, exc: OSError) -> str:
        where = f" writing {exc.filename}" if exc.filename else ""
        return (
            f"the disk is full ({exc.strerror}{where}); the last complete checkpoint is kept: "
            f"free space (e.g. `rl-train runs clean`) and continue with "
            f"`rl-train --resume {self.run_dir}`"
        )

    def _writing(self, write: Callable[[], Any]) -> None:
        """Run a write of the wrap-up; once the disk is full, later writes may fail too,
        and must not hide the first error or stop the rest of the wrap-up."""
        try:
            write()
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            self.disk_full = self.disk_full or exc

    def _wrap_up(self, state: str) -> tuple[float | None, str]:
        """Save, evaluate, close and record; returns the success rate and the final state."""
        success = None
        if state != "aborted" and self.model is not None and self.disk_full is None:
            self._writing(lambda: self._save_final(state))
        if state == "finished" and self.disk_full is None and self.model is not None:
            if self.venv is not None:
                success = evaluate_success(self.model, self.venv, EVAL_EPISODES)
                if success is not None:
                    self.model.logger.record("eval/success_rate", success)
            self._writing(lambda: self.model.logger.dump(step=self.model.num_timesteps))
        if self.venv is not None:
            close_quietly(self.venv, workers_broken=self.workers_broken)
        if self.model is not None:
            self._writing(self.model.logger.close)
        steps = self.model.num_timesteps if self.model is not None else 0
        if self.disk_full is not None:
            state = "crashed"
            if self.checkpointer is not None and self.checkpointer.last_saved_step >= 0:
                steps = self.checkpointer.last_saved_step  # what a resume starts from
        self._writing(
            lambda: self.record.mark_ended(state, steps, success, self._rollout_success())
        )
        if self.tracker is not None:
            self.tracker.update_summary({"state": state, "final_success_rate": success})
            self.tracker.finish(self._exit_code(state))
            self.record.timings.update(self.tracker.timings())
        if self.throughput is not None:
            self.record.timings.update(self.throughput.timings())
        self._writing(self.record.save)
        return success, state

    def _rollout_success(self) -> float | None:
        buffer = getattr(self.model, "ep_success_buffer", None)
        return float(np.mean(buffer)) if buffer else None

    def _print_summary(self, state: str, success: float | None) -> None:
        record = self.record
        elapsed = time.time() - record.session_started
        rate = (record.steps - record.session_start_step) / elapsed if elapsed > 0 else 0
        success_text = f", success rate {success:.0%}" if success is not None else ""
        lines = [
            f"run {state}: {record.steps:,}/{self.config.total_timesteps:,} steps in "
            f"{format_duration(elapsed)} ({rate:,.0f} steps/s){success_text}",
            f"  run dir:      {self.run_dir}",
        ]
        latest, _ = checkpoint.find_latest_valid(self.run_dir / "checkpoints")
        if latest is not None:
            lines.append(f"  checkpoint:   {latest.path}")
        lines.append(f"  tensorboard:  tensorboard --logdir {self.run_dir / 'tb'}")
        wandb_dirs = record.wandb_dirs
        if wandb_dirs and self.config.wandb_mode == "offline":
            lines.append(f"  W&B offline:  {wandb_dirs[-1]}")
            lines.append(f"  sync with:    wandb sync {' '.join(str(d) for d in wandb_dirs)}")
        elif wandb_dirs:
            lines.append(f"  W&B run:      {wandb_dirs[-1]}")
        if state in ("interrupted", "crashed") and latest is not None:
            lines.append(f"  resume with:  rl-train --resume {self.run_dir}")
        print("\n".join(lines), flush=True)


def train(session: Session) -> TrainResult:
    """A new run, begun by session.begin_fresh."""
    return Trainer(session).run()


def _has_run_record(log_file: Path) -> bool:
    from rl_train import wandb_log

    try:
        return bool(wandb_log.read_run(log_file).run_id)
    except (wandb_log.TransactionLogError, OSError):
        return False


def cut_stale_history(record: run_record.RunRecord, step: int) -> None:
    """Rows earlier sessions logged after the resume step were thrown away with their
    training; drop them so that syncing all of a run's folders gives one history."""
    from rl_train import wandb_log

    for folder in list(record.wandb_dirs):
        for log_file in Path(folder).glob("run-*.wandb"):
            if not _has_run_record(log_file):
                # Killed before W&B's first flush: nothing in it to sync (the rows
                # come back from metrics.jsonl), and `wandb sync` would fail on it.
                shutil.rmtree(folder, ignore_errors=True)
                record.wandb_dirs.remove(folder)
                print(f"rl-train: removed empty W&B folder {folder}", file=sys.stderr)
                break
            dropped = wandb_log.cut_history_after(log_file, step)
            if dropped:
                print(
                    f"rl-train: dropped {dropped} W&B rows logged after step {step:,} in "
                    f"{log_file.parent.name} (original kept as {log_file.name}.bak)",
                    file=sys.stderr,
                )


def resume_training(session: Session, found: checkpoint.Checkpoint) -> TrainResult:
    """A run continued from `found`, begun by session.begin_resume."""
    config = session.config
    trainer = Trainer(session, resume_from=found)
    cut_stale_history(trainer.record, found.step)
    print(
        f"resuming {config.run_name} from step {found.step:,} of "
        f"{config.total_timesteps:,} ({found.path})",
        flush=True,
    )
    return trainer.run()
