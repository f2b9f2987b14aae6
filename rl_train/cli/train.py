"""The training flags: `rl-train [FLAGS]` parsed into a TrainConfig (not yet resolved)."""

from __future__ import annotations

import argparse
from typing import Any

from rl_train.cli.parsing import (
    OneLineParser,
    add_output_dir,
    hyperparameter,
    seconds,
    whole_number,
)
from rl_train.config import user_config
from rl_train.config.train_config import (
    DEFAULT_N_ENVS,
    DEVICES,
    EVAL_STEP_SHARE,
    LEARNERS,
    LOG_PROFILES,
    MAX_EVALUATIONS,
    VEC_ENVS,
    WANDB_CHECKPOINTS,
    WANDB_FINISH_TIMEOUT_S,
    WANDB_MODES,
    WANDB_ON,
    TrainConfig,
    default_vec_env,
    wandb_mode_from_env,
)

COMMANDS = """commands (each has its own --help):
  rl-train [train] [FLAGS]      train PPO (this page)
  rl-train eval RUN             how good a trained policy is: success rate, return, a video
  rl-train export RUN           the policy as an ONNX or TorchScript file, checked against SB3
  rl-train runs COMMAND         list, show, watch, export, plot, sync, pack, unpack, clean runs
  rl-train sweep [FLAGS] -- ... many seeds or a search on Ray Tune
  rl-train config show|set      your defaults: wandb-mode, output-dir, wandb-project"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rl-train",
        description="Train PPO on a Franka Panda task, logged locally first (W&B offline + "
        "TensorBoard).",
        epilog=COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        action="store_true",
        help="kinematic Panda (numpy, no physics engine) instead of PyBullet",
    )
    env.add_argument(
        "--robot-type", default="panda", help="robot arm: panda or kuka (reach) (default: panda)"
    )
    env.add_argument(
        "--n-envs",
        type=whole_number(1),
        default=None,
        help=f"parallel environments (default: {DEFAULT_N_ENVS}, or the hyperparameter "
        "file's n_envs)",
    )
    env.add_argument(
        "--n-workers",
        type=whole_number(1),
        default=0,
        help="worker processes for --vec-env shm (default: one per usable core)",
    )
    env.add_argument(
        "--vec-env",
        choices=VEC_ENVS,
        default=None,
        help="shm: several envs per worker over shared memory; subproc: SB3, one process per "
        "env; dummy: all in this process; native: the kinematic reach batched in numpy "
        "(default: native with --use-simple-env, else shm)",
    )

    run = parser.add_argument_group("training")
    run.add_argument(
        "--total-timesteps",
        type=whole_number(1),
        default=0,
        help="env steps to train for (default: the env's shipped n_timesteps)",
    )
    run.add_argument(
        "--seed",
        type=whole_number(0),
        default=0,
        help="training env r starts from seed + r; validation and test episodes from "
        "seed + 1,000,000 and + 2,000,000 (default: 0)",
    )
    run.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        help="YAML of PPO hyperparameters overriding the shipped per-env defaults",
    )
    run.add_argument(
        "--hyperparams",
        "-params",
        dest="hyperparams",
        nargs="+",
        action="extend",
        type=hyperparameter,
        metavar="KEY=VALUE",
        help="PPO hyperparameters over the shipped ones and --config, values read as YAML: "
        "learning_rate=1e-3 n_steps=128 policy_kwargs.net_arch=[64,64] (rl-zoo's "
        "`-params learning_rate:0.001` too); recorded in the run's config.yaml",
    )
    run.add_argument(
        "--checkpoint-freq",
        type=whole_number(0),
        default=10_000,
        help="env steps between checkpoints, 0 for only the final one (default: 10000)",
    )
    run.add_argument(
        "--keep-checkpoints",
        type=whole_number(1),
        default=3,
        help="checkpoints kept on disk (default: 3)",
    )
    run.add_argument(
        "--eval-freq",
        type=whole_number(0),
        default=None,
        help="env steps between evaluations on envs of their own, on validation episodes, 0 "
        f"for none and no best (default: they play at most {EVAL_STEP_SHARE * 100:.0f}%% of "
        f"the steps, at most {MAX_EVALUATIONS} per run with the final one); the best policy is "
        "kept as checkpoints/best; the run ends with the final and the best policy on 50 test "
        "episodes",
    )
    run.add_argument(
        "--eval-episodes",
        type=whole_number(1),
        default=10,
        help="validation episodes per evaluation during training (default: 10)",
    )
    run.add_argument(
        "--eval-video",
        action="store_true",
        help="film one episode per evaluation: videos/eval-<step>.mp4 (320x240, drawn in "
        "the background on idle CPU), and eval/video in W&B",
    )
    run.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="the learner's torch device: cpu (default: SB3's small MLP policies run fastest "
        "there), cuda, or auto (cuda when torch sees one)",
    )
    run.add_argument(
        "--learner",
        choices=LEARNERS,
        default="fast",
        help="PPO's update: fast (default: SB3's PPO with the update's loss and gradients "
        "written out, for MLP policies; the same update to float rounding) or sb3 (SB3's "
        "own PPO.train)",
    )
    run.add_argument(
        "--update-threads",
        type=whole_number(0),
        default=1,
        metavar="N",
        help="torch threads for PPO's update, while the env workers wait (default 1; 0: "
        "every usable core, for a machine of your own: on cores other work shares, waiting "
        "threads spin and slow the update many-fold); acting uses one",
    )
    run.add_argument(
        "--resume",
        metavar="PATH|latest",
        help="continue a run from its newest valid checkpoint: a run dir, a checkpoint dir, "
        "or 'latest' (the newest unfinished run under --output-dir)",
    )
    run.add_argument("--run-name", default="", help="default: <env>-s<seed>-<time>")
    add_output_dir(run, "where the run's folder goes")

    wandb = parser.add_argument_group("logging")
    wandb.add_argument(
        "--wandb-mode",
        choices=WANDB_MODES,
        default=None,
        help="offline: log locally, `rl-train runs sync` later; online: upload as it trains "
        "(the server must answer at the start); auto: online if the server answers, else "
        "offline; disabled: no W&B (default: $WANDB_MODE, else offline)",
    )
    wandb.add_argument(
        "--wandb-finish-timeout",
        type=seconds(),
        default=WANDB_FINISH_TIMEOUT_S,
        metavar="SECONDS",
        help="at the end, how long to wait for the W&B upload before leaving the rest to "
        f"`rl-train runs sync` (default: {WANDB_FINISH_TIMEOUT_S:.0f})",
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
        dest="wandb_mode",
        action="store_const",
        const="disabled",
        help=argparse.SUPPRESS,
    )
    wandb.add_argument(  # the guide's: W&B on, in the mode $WANDB_MODE or your config say
        "--use-wandb",
        dest="wandb_mode",
        action="store_const",
        const=WANDB_ON,
        help=argparse.SUPPRESS,
    )
    wandb.add_argument(
        "--wandb-project",
        default=user_config.get("wandb-project"),
        help=f"the W&B project (default: {user_config.get('wandb-project')}; "
        "`rl-train config set wandb-project NAME` changes it)",
    )
    wandb.add_argument(
        "--log-profile",
        choices=LOG_PROFILES,
        default="default",
        help="default: SB3's keys once per rollout; heavy: also per-episode metrics and "
        "gradient/parameter histograms (default: default)",
    )
    wandb.add_argument(
        "--wandb-entity", default=None, help="the W&B entity (default: your W&B default)"
    )
    wandb.add_argument(
        "--wandb-checkpoints",
        choices=WANDB_CHECKPOINTS,
        default="kept",
        help="checkpoints in the W&B run (uploaded online, by `runs sync` offline): all "
        "written, the ones kept on disk, the final one, or none (default: kept)",
    )
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
    parser = build_parser()
    args = parser.parse_args(argv)
    explicit = explicit_flags(parser, argv)
    config = TrainConfig(
        env=args.env,
        use_simple_env=args.use_simple_env,
        robot_type=args.robot_type,
        n_envs=args.n_envs or DEFAULT_N_ENVS,
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
        wandb_checkpoints=args.wandb_checkpoints,
        wandb_finish_timeout=args.wandb_finish_timeout,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        eval_video=args.eval_video,
        log_profile=args.log_profile,
        device=args.device,
        learner=args.learner,
        update_threads=args.update_threads,
        hyperparams=given_hyperparams(args.hyperparams),
    )
    return config, explicit, args.resume


def given_hyperparams(pairs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """--hyperparams, one mapping (a later KEY over an earlier one; dotted keys merged)."""
    from rl_train.config.hyperparams import merge

    given: dict[str, Any] = {}
    for pair in pairs or []:
        given = merge(given, pair)
    return given
