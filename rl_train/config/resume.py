"""--resume: find the run and its newest valid checkpoint, merge allowed overrides.

The original --total-timesteps stays the target (it is not added to). A few flags may
change on resume; ones that would make it a different experiment are refused. A run with
no valid checkpoint yet (killed in its first seconds) restarts from step 0, in the same
run dir with the same run id and W&B run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rl_train.config.resolve import check_device, default_eval_freq, round_to_rollouts
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
}
# Flags that would change the experiment itself.
REFUSED = {"env", "use_simple_env", "robot_type", "config_file", "seed", "wandb_project"}


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
    for name in sorted(explicit & REFUSED):
        if getattr(cli, name) != getattr(config, name):
            raise UserError(
                f"--{name.replace('_', '-')} differs from the run being resumed "
                f"({getattr(config, name)!r}); start a new run for a different experiment"
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
    if config.eval_freq is None:  # a run from before evaluations during training
        config.eval_freq = default_eval_freq(config)
    found = choose_checkpoint(run_dir, named)
    if found is None:
        round_to_rollouts(config)
        config.resume = "step 0"
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
    return config, found
