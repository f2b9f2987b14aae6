"""Command line: argument parsing only, then dispatch to train() or `rl-train runs ...`."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from rl_train.config import LOG_PROFILES, VEC_ENVS, WANDB_MODES, TrainConfig
from rl_train.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users get one line that names the fix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole_number(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rl-train",
        description=(
            "Train PPO on a Franka Panda task, logged locally first (W&B offline + TensorBoard). "
            "`rl-train runs --help` manages the recorded runs."
        ),
    )
    env = parser.add_argument_group("environment")
    env.add_argument(
        "--env",
        default="reach",
        help="task (reach, push, pick_and_place) or env id, e.g. PandaPushSparse-v0 "
        "(default: reach)",
    )
    env.add_argument(
        "--use-simple-env",
        "--use_simple_env",
        action="store_true",
        help="kinematic Panda (numpy, no physics engine) instead of PyBullet",
    )
    env.add_argument(
        "--robot-type", "--robot_type", default="panda", help="robot arm: panda or kuka (reach)"
    )
    env.add_argument(
        "--n-envs",
        "--n_envs",
        type=_whole_number(1),
        default=None,
        help="parallel environments (default: 16, or the hyperparameter file's n_envs)",
    )
    env.add_argument(
        "--n-workers",
        "--n_workers",
        type=_whole_number(1),
        default=0,
        help="worker processes for --vec-env shm (default: one per usable core)",
    )
    env.add_argument(
        "--vec-env",
        "--vec_env",
        choices=VEC_ENVS,
        default=None,
        help="shm: several envs per worker over shared memory; subproc: SB3, one process per "
        "env; dummy: all in this process; native: the kinematic reach batched in numpy "
        "(default: native with --use-simple-env, else shm)",
    )

    run = parser.add_argument_group("training")
    run.add_argument(
        "--total-timesteps",
        "--total_timesteps",
        type=_whole_number(1),
        default=0,
        help="env steps to train for (default: the env's shipped n_timesteps)",
    )
    run.add_argument("--seed", type=_whole_number(0), default=0)
    run.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        help="YAML of PPO hyperparameters overriding the shipped per-env defaults",
    )
    run.add_argument(
        "--checkpoint-freq",
        "--checkpoint_freq",
        type=_whole_number(0),
        default=10_000,
        help="env steps between checkpoints, 0 for only the final one (default: 10000)",
    )
    run.add_argument(
        "--keep-checkpoints",
        type=_whole_number(1),
        default=3,
        help="checkpoints kept on disk (default: 3)",
    )
    run.add_argument(
        "--resume",
        metavar="PATH|latest",
        help="continue a run from its newest valid checkpoint: a run dir, a checkpoint dir, "
        "or 'latest' (the newest unfinished run under --output-dir)",
    )
    run.add_argument("--run-name", "--run_name", default="", help="default: <env>-s<seed>-<time>")
    run.add_argument("--output-dir", "--output_dir", default="runs", help="default: runs/")

    wandb = parser.add_argument_group("logging")
    wandb.add_argument(
        "--wandb-mode",
        "--wandb_mode",
        choices=WANDB_MODES,
        default=None,
        help="default: $WANDB_MODE, else offline",
    )
    wandb.add_argument(
        "--wandb-offline",
        dest="wandb_mode",
        action="store_const",
        const="offline",
        help=argparse.SUPPRESS,
    )
    wandb.add_argument(
        "--wandb-online",
        dest="wandb_mode",
        action="store_const",
        const="online",
        help=argparse.SUPPRESS,
    )
    wandb.add_argument(
        "--no-use-wandb",
        "--no_use_wandb",
        dest="wandb_mode",
        action="store_const",
        const="disabled",
        help=argparse.SUPPRESS,
    )
    wandb.add_argument("--wandb-project", "--wandb_project", default="rl-train")
    wandb.add_argument(
        "--log-profile",
        choices=LOG_PROFILES,
        default="default",
        help="default: SB3's keys once per rollout; heavy: also per-episode metrics and "
        "gradient/parameter histograms (default: default)",
    )
    wandb.add_argument("--wandb-entity", "--wandb_entity", default=None)
    return parser


def explicit_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests the user actually typed (a resume keeps the rest from the run)."""
    saved = {action.dest: action.default for action in parser._actions}
    try:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_args(argv)))
    finally:
        for action in parser._actions:
            action.default = saved[action.dest]


def config_from_args(argv: list[str]) -> tuple[TrainConfig, set[str], str | None]:
    """Parse train flags into a config, the set of flags typed, and --resume."""
    from rl_train.config import default_vec_env, wandb_mode_from_env

    parser = build_parser()
    args = parser.parse_args(argv)
    explicit = explicit_flags(parser, argv)
    config = TrainConfig(
        env=args.env,
        use_simple_env=args.use_simple_env,
        robot_type=args.robot_type,
        n_envs=args.n_envs or 16,
        n_workers=args.n_workers,
        vec_env=args.vec_env or default_vec_env(args.use_simple_env),
        total_timesteps=args.total_timesteps,
        seed=args.seed,
        config_file=args.config_file,
        checkpoint_freq=args.checkpoint_freq,
        keep_checkpoints=args.keep_checkpoints,
        run_name=args.run_name,
        output_dir=args.output_dir,
        wandb_mode=wandb_mode_from_env(args.wandb_mode),
        wandb_project=args.wandb_project,
        wandb_entity=args.wandb_entity,
        log_profile=args.log_profile,
    )
    return config, explicit, args.resume


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["runs"]:
            from rl_train.runs_cli import main as runs_main

            return runs_main(argv[1:])
        if argv[:1] == ["train"]:
            argv = argv[1:]
        config, explicit, resume = config_from_args(argv)
        from rl_train import session
        from rl_train.config import resolve

        # The W&B run starts (session.py) before torch loads, and torch only once the
        # flags are valid.
        if resume:
            from rl_train.resume import resume_plan

            config, checkpoint = resume_plan(resume, config, explicit)
            resumed = session.begin_resume(config)
            from rl_train.train import resume_training

            return resume_training(resumed, checkpoint).exit_code
        resolve(config, cli_n_envs_given="n_envs" in explicit)
        fresh = session.begin_fresh(config)
        from rl_train.train import train

        return train(fresh).exit_code
    except UserError as exc:
        print(f"rl-train: error: {exc}", file=sys.stderr)
        return exc.exit_code


def entry_point() -> None:
    """The `rl-train` command: main(), then leave without Python's own shutdown.

    By now the run is saved, closed and summarised. CPython's shutdown resets the signal
    handlers to the defaults and then tears modules down (torch, wandb) for a noticeable
    time: a Ctrl-C or SIGTERM in that window (a user pressing twice) would kill the
    process by signal and hide the run's exit status, which scripts rely on.
    """
    code = main()
    for signum in (signal.SIGINT, signal.SIGTERM):  # a late signal: end now, with `code`
        signal.signal(signum, lambda *_: os._exit(code))
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()  # stop wandb's service process cleanly
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry_point()
