"""The sweep's driver: Ray (local, or a cluster by --address), a Tuner over the trials, its
restore on --resume, and what Tune says of each trial, kept beside the trials' run dirs."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import ray
from ray import tune

from rl_train.errors import UserError
from rl_train.machine import usable_cores
from rl_train.store.atomic import write_text_atomic
from rl_train.sweep import space
from rl_train.sweep.report import TRIALS_FILE
from rl_train.sweep.spec import SweepSpec
from rl_train.sweep.trial import trainable, trial_index, trial_run_name

HEAD_TIMEOUT_S = 10
TUNE_DIR = "tune"  # Tune's experiment state, in the sweep's folder (Tuner.restore reads it)


def check_head(address: str) -> None:
    """HOST:PORT answers on TCP: ray.init would otherwise retry a dead address for minutes."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--address {address}: give auto or HOST:PORT of the Ray head")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=HEAD_TIMEOUT_S).close()
    except OSError as exc:
        raise UserError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start "
            "one with `ray start --head`, or leave --address out for a local one"
        ) from None


def start_ray(address: str | None) -> None:
    if address and address != "auto":
        check_head(address)
    try:
        if address:
            ray.init(address=address, logging_level="WARNING")
        else:
            # "local": a new instance even where `ray start` left one running.
            ray.init(
                address="local",
                num_cpus=usable_cores(),
                include_dashboard=False,
                logging_level="WARNING",
            )
    except ConnectionError as exc:
        raise UserError(
            f"--address {address}: cannot join the Ray cluster ({first_line(exc)}); if it "
            "uses token authentication (Ray's default for `ray start` since 2.59), set "
            "RAY_AUTH_MODE=token here with its token (~/.ray/auth_token or RAY_AUTH_TOKEN)"
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def check_resources(spec: SweepSpec) -> dict[str, float]:
    """What one trial asks for, refused when no node of the cluster could ever give it."""
    wanted = {"cpu": spec.trial_cpus(), "gpu": float(spec.gpus_per_trial)}
    have = ray.cluster_resources()
    if wanted["cpu"] > have.get("CPU", 0):
        raise UserError(
            f"a trial asks for {wanted['cpu']:g} CPUs (its env workers + the learner) and "
            f"the Ray cluster has {have.get('CPU', 0):g}; lower --n-workers in the trial "
            "flags or set --cpus-per-trial"
        )
    if wanted["gpu"] > have.get("GPU", 0):
        raise UserError(
            f"--gpus-per-trial {wanted['gpu']:g}: the Ray cluster has "
            f"{have.get('GPU', 0):g} GPUs; drop --gpus-per-trial"
        )
    return wanted


def build_tuner(spec: SweepSpec, sweep_dir: Path, total_timesteps: int) -> tune.Tuner:
    resources = check_resources(spec)
    runner = tune.with_resources(trainable(sweep_dir), resources)
    return tune.Tuner(
        runner,
        param_space=space.param_space(spec),
        tune_config=tune.TuneConfig(
            metric=spec.metric,
            mode=spec.mode,
            num_samples=spec.num_samples,
            max_concurrent_trials=spec.max_concurrent or None,
            scheduler=space.scheduler(spec, total_timesteps),
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR,
            storage_path=str(sweep_dir),
            verbose=1,
            failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        ),
    )


def restore_tuner(spec: SweepSpec, sweep_dir: Path) -> tune.Tuner:
    path = sweep_dir / TUNE_DIR
    if not tune.Tuner.can_restore(str(path)):
        raise UserError(
            f"sweep {sweep_dir.name} has no Tune state to resume from ({path}); it was "
            "stopped before its first trial started: start it again"
        )
    resources = check_resources(spec)
    runner = tune.with_resources(trainable(sweep_dir), resources)
    # Unfinished trials continue; errored ones too (each from its own checkpoint: a trial
    # cut by a killed driver may be recorded as errored).
    return tune.Tuner.restore(
        str(path), trainable=runner, resume_unfinished=True, resume_errored=True
    )


def tune_view(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """Per trial run name: its status in Tune's saved state (what a resume goes by) and
    its error line. A Ctrl-C leaves the cut trials RUNNING there, to be resumed."""
    view: dict[str, dict[str, Any]] = {}
    if not tune.Tuner.can_restore(str(sweep_dir / TUNE_DIR)):
        return view
    for trial in tune.ExperimentAnalysis(str(sweep_dir / TUNE_DIR)).trials:
        seed = int(trial.config.get("seed", 0))
        name = trial_run_name(trial_index(trial.trial_id), seed)
        view[name] = {
            "trial_id": trial.trial_id,
            "status": trial.status,
            "error": _trial_error(trial) if trial.status == "ERROR" else "",
            "seed": seed,
            "params": {k: v for k, v in trial.config.items() if k != "seed"},
        }
    return view


def _trial_error(trial: Any) -> str:
    """The last line of the trial's error: ours is one line (TrialError)."""
    path = getattr(trial, "error_file", None) or ""
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "TrialError:" in line:
            return line.split("TrialError:", 1)[1].strip()
    return lines[-1] if lines else "the trial failed (see Tune's log)"


def run(
    spec: SweepSpec, sweep_dir: Path, total_timesteps: int, resume: bool
) -> tuple[dict[str, dict[str, Any]], bool]:
    """Run (or resume) the sweep to its end on the Ray started by start_ray; (Tune's view
    of the trials, interrupted?)."""
    tuner = (
        restore_tuner(spec, sweep_dir) if resume else build_tuner(spec, sweep_dir, total_timesteps)
    )
    try:
        tuner.fit()
    except KeyboardInterrupt:  # a second Ctrl-C: Tune's state may be older
        return tune_view(sweep_dir), True
    finally:
        sys.stdout.flush()
    view = tune_view(sweep_dir)
    write_text_atomic(sweep_dir / TRIALS_FILE, json.dumps(view, indent=2) + "\n")
    unfinished = [v for v in view.values() if v["status"] not in ("TERMINATED", "ERROR")]
    return view, bool(unfinished)


def stop_ray() -> None:
    ray.shutdown()
