"""--resume: find the run and its newest valid checkpoint, merge allowed overrides.

The original --total-timesteps stays the target (it is not added to). The flags in
OVERRIDABLE may change on resume; any other flag typed with a value other than the run's
is refused (it would make another experiment, or cannot be honoured), never dropped. A run
with no valid checkpoint yet (killed in its first seconds) restarts from step 0, in the
same run dir with the same run id and W&B run. What a checkpoint older than the newest
left behind is set aside (store/checkpoint.py: set_aside_future).
"""

from __future__ import annotations

import sys
from pathlib import Path

from rl_train.config.resolve import (
    check_device,
    check_learner,
    default_eval_freq,
    file_digest,
    round_to_rollouts,
)
from rl_train.config.train_config import TrainConfig, read_config
from rl_train.errors import UserError
from rl_train.store import checkpoint, query
from rl_train.store.layout import CHECKPOINTS_DIR, is_run_dir

# Flags that may differ from the original run on resume.
OVERRIDABLE = {
    "total_timesteps",
    "n_envs",
    "n_workers",
    "vec_env",
    "checkpoint_freq",
    "keep_checkpoints",
    "wandb_mode",
    "wandb_checkpoints",
    "wandb_finish_timeout",
    "log_profile",
    "eval_freq",
    "eval_episodes",
    "eval_video",
    "device",
    "learner",
    "update_threads",
}
# Flags that name the run to resume, not its settings.
LOCATING = {"resume", "output_dir"}
# Flags that would change the experiment itself, or that a resume cannot honour (the
# run's name is its folder; the W&B run lives in one entity and project). Refused when
# their value differs from the run's; every other flag is overridable or locating.
REFUSED = {
    "env",
    "use_simple_env",
    "robot_type",
    "config_file",
    "hyperparams",
    "seed",
    "wandb_project",
    "wandb_entity",
    "run_name",
}


def flag(name: str) -> str:
    """The command-line spelling of a config field."""
    return "--config" if name == "config_file" else f"--{name.replace('_', '-')}"


def latest_unfinished_run(output_dir: Path) -> Path:
    """The most recently started run under output_dir that did not finish."""
    runs = query.find_runs(output_dir) if output_dir.is_dir() else []
    candidates = [run for run in runs if is_run_dir(run.path) and run.record.state != "finished"]
    if not candidates:
        raise UserError(
            f"no unfinished run under {output_dir}; pass --resume a run dir, "
            "or --output-dir where the run is"
        )
    return max(candidates, key=lambda run: run.record.started_at).path


def locate(target: str, output_dir: str) -> tuple[Path, Path | None]:
    """(run dir, checkpoint dir the user named or None)."""
    if target == "latest":
        return latest_unfinished_run(Path(output_dir)), None
    path = Path(target)
    if not path.exists() and (Path(output_dir) / target).exists():
        path = Path(output_dir) / target  # a bare run name
    if not path.exists():
        raise UserError(f"--resume {target}: no such run or checkpoint; check the path")
    if path.name == checkpoint.BEST_DIR and path.parent.name == CHECKPOINTS_DIR:
        raise UserError(
            f"--resume {target}: the best checkpoint is for evaluation (rl-train eval); "
            f"resume the run, or one of its numbered checkpoints"
        )
    if (path / checkpoint.META_FILE).exists() or path.parent.name == CHECKPOINTS_DIR:
        run_dir = path.parent.parent
        if not is_run_dir(run_dir):
            raise UserError(f"--resume {target}: checkpoint is not inside an rl-train run dir")
        return run_dir, path
    if not is_run_dir(path):
        raise UserError(f"--resume {target}: not an rl-train run dir (no config.yaml)")
    return path, None


def _check_same_hyperparams(given: dict, run: dict, run_dir: Path, prefix: str = "") -> None:
    """--hyperparams on resume: only the values the run already has (a nested mapping is
    compared key by key, as --hyperparams merges it)."""
    for key, value in given.items():
        current = run.get(key) if isinstance(run, dict) else None
        if isinstance(value, dict) and isinstance(current, dict):
            _check_same_hyperparams(value, current, run_dir, f"{prefix}{key}.")
        elif value != current:
            raise UserError(
                f"--hyperparams {prefix}{key}={value!r} differs from run {run_dir.name}'s "
                f"({current!r}); hyperparameters cannot change on resume: start a new run "
                "for a different experiment, or resume without it"
            )


def choose_checkpoint(run_dir: Path, named: Path | None) -> checkpoint.Checkpoint | None:
    """The named (or newest) valid checkpoint, falling back to older ones with a warning;
    None when there is none."""
    root = run_dir / CHECKPOINTS_DIR
    candidates = checkpoint.list_checkpoints(root)
    if named is not None:
        candidates = [c for c in candidates if int(c.name) <= int(named.name)]
    for path in reversed(candidates):
        try:
            found = checkpoint.validate(path)
        except checkpoint.CheckpointError as exc:
            print(f"rl-train: warning: {exc}; trying an older checkpoint", file=sys.stderr)
            continue
        if found.meta.get("algo", "PPO") != "PPO":
            raise UserError(f"checkpoint {path} is for {found.meta['algo']}, not PPO")
        return found
    return None


def resume_plan(
    run_dir: Path, named: Path | None, cli: TrainConfig, explicit: set[str]
) -> tuple[TrainConfig, checkpoint.Checkpoint | None]:
    """The config to continue run_dir with (from locate), and the checkpoint to continue
    from (None: from step 0). Call it with the run's lock held: it reads the checkpoints."""
    config = read_config(run_dir)
    config.output_dir, config.run_name = str(run_dir.parent), run_dir.name
    if "hyperparams" in explicit:
        _check_same_hyperparams(cli.hyperparams, config.hyperparams, run_dir)
    for name in sorted(explicit - OVERRIDABLE - LOCATING - {"hyperparams"}):
        if getattr(cli, name, None) != getattr(config, name, None):
            raise UserError(
                f"{flag(name)} differs from the run being resumed "
                f"({getattr(config, name, None)!r}) and cannot change on resume; start a "
                "new run for a different experiment, or resume without it"
            )
    if "config_file" in explicit and config.config_file_sha256 is not None:
        if file_digest(str(cli.config_file)) != config.config_file_sha256:
            raise UserError(
                f"--config {cli.config_file} has changed since run {run_dir.name} started "
                "(its hyperparameters are part of the run); resume without --config to "
                "keep the run's, or start a new run with the new file"
            )
    for name in sorted(explicit & OVERRIDABLE):
        if name == "n_envs" and cli.n_envs != config.n_envs:
            print(
                f"rl-train: warning: resuming with --n-envs {cli.n_envs} instead of "
                f"{config.n_envs}; rollouts change size, so results differ from an "
                "uninterrupted run",
                file=sys.stderr,
            )
        setattr(config, name, getattr(cli, name))
    check_device(config.device)
    check_learner(config)
    if config.eval_freq is None:  # a run from before evaluations during training
        config.eval_freq = default_eval_freq(config)
    found = choose_checkpoint(run_dir, named)
    if found is None:
        round_to_rollouts(config)
        config.resume = "step 0"
        _set_aside_future(run_dir, 0, None)
        return config, None
    if found.meta.get("env_id") not in (None, config.env_id):
        raise UserError(
            f"checkpoint {found.path} is for {found.meta['env_id']}, not {config.env_id}"
        )
    if found.step >= config.total_timesteps:
        raise UserError(
            f"run {run_dir.name} already reached {found.step:,} of {config.total_timesteps:,} "
            "steps; pass a larger --total-timesteps to train on"
        )
    round_to_rollouts(config, start_step=found.step)
    config.resume = str(found.path)
    _set_aside_future(run_dir, found.step, _best_step_of(found, run_dir))
    return config, found


def _best_step_of(found: checkpoint.Checkpoint, run_dir: Path) -> int | None:
    """The step of the best checkpoint as of `found`."""
    if checkpoint.BEST_STEP_KEY in found.meta:
        return found.meta[checkpoint.BEST_STEP_KEY]
    # Written before checkpoints named their best: keep a best no newer than the resume.
    best = run_dir / CHECKPOINTS_DIR / checkpoint.BEST_DIR
    try:
        step = int(checkpoint.load_meta(best)["step"])
    except (checkpoint.CheckpointError, ValueError):
        return None
    return step if step <= found.step else None


def _set_aside_future(run_dir: Path, step: int, best_step: int | None) -> None:
    aside = checkpoint.set_aside_future(run_dir / CHECKPOINTS_DIR, step, best_step)
    if aside is not None:
        moved = ", ".join(sorted(p.name for p in aside.iterdir()))
        print(
            f"rl-train: resuming from step {step:,}: what the run wrote after it ({moved}) "
            f"is moved to {aside}, out of reach of --resume and rl-train eval; delete it "
            "when you no longer need it",
            file=sys.stderr,
        )
