"""`rl-train eval RUN|CHECKPOINT`: how good a trained policy is, and a video of it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rl_train.cli.parsing import OneLineParser, add_output_dir, key_value, whole_number
from rl_train.config.train_config import (
    FINAL_EVAL_EPISODES,
    MAX_EVAL_ENVS,
    SEED_STREAM,
    TEST_SEEDS,
    VALIDATION_SEEDS,
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rl-train eval",
        description="Evaluate a trained policy: success rate (95% Wilson interval), return "
        "and episode length over fresh episodes, optionally an MP4 of its first episodes. "
        "RUN is a run id, name or path (its best checkpoint, else the latest), or a "
        "checkpoint dir; or, with --policy, a file from `rl-train export`.",
    )
    parser.add_argument("target", metavar="RUN|CHECKPOINT", nargs="?")
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="play an exported policy (.onnx with ONNX Runtime, no torch; .pt with torch) in "
        "the env it names, on the episodes its run's checkpoints are evaluated on",
    )
    parser.add_argument("--checkpoint", metavar="latest|best|STEP", help="which checkpoint of RUN")
    parser.add_argument(
        "--episodes",
        type=whole_number(1, SEED_STREAM),
        default=FINAL_EVAL_EPISODES,
        help=f"episodes to play (default: {FINAL_EVAL_EPISODES}, as training's final one)",
    )
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions (default: deterministic)"
    )
    parser.add_argument(
        "--seed",
        type=whole_number(0),
        default=None,
        help="episode i starts from seed + i (default: the run's test episodes, its seed + "
        f"{TEST_SEEDS:,}: never trained on, never used to choose best)",
    )
    parser.add_argument(
        "--n-envs",
        type=whole_number(1, MAX_EVAL_ENVS),
        default=None,
        help="envs played in parallel (default: 8); the episodes are the same however many",
    )
    parser.add_argument(
        "--env",
        metavar="TASK|ENV_ID",
        help="play another env than the run's, with the same observations and actions: a "
        "variant (e.g. PandaReachSparse-v0 for a reach policy) or module:EnvId",
    )
    parser.add_argument(
        "--env-kwargs",
        nargs="+",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="keyword arguments for the env, values read as YAML (e.g. "
        "goal_high=[0.2,0.2,0.4] for reach's goal box)",
    )
    parser.add_argument(
        "--video",
        metavar="FILE.mp4",
        help="film the first episodes into one MP4, back to back, each labelled with its "
        "number and, at its end, success or failure",
    )
    parser.add_argument(
        "--video-episodes",
        type=whole_number(1),
        default=3,
        help="episodes filmed with --video (default: 3)",
    )
    parser.add_argument("--video-size", default="480x360", metavar="WxH", help="default: 480x360")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_output_dir(parser)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.policy is not None:
        return _main_exported(args, parser)
    if args.target is None:
        parser.error("name the RUN or CHECKPOINT to evaluate, or an exported --policy FILE")
    video = Path(args.video) if args.video else None
    size = None
    if video is not None:
        from rl_train.evaluation.video import check_writable, parse_size

        size = parse_size(args.video_size)
        check_writable(video)  # before any episode is played
    from rl_train.evaluation.policy import find_target

    target = find_target(args.target, Path(args.output_dir), args.checkpoint)
    run_seed = target.config.seed
    if args.env is not None:
        from rl_train.evaluation.policy import played_elsewhere

        target = played_elsewhere(target, args.env)
    seed = args.seed if args.seed is not None else run_seed + TEST_SEEDS
    n_envs = args.n_envs or min(8, args.episodes)
    if video is not None:  # env 0 plays at least the filmed episodes
        n_envs = max(1, min(n_envs, args.episodes // args.video_episodes))
    n_envs = min(n_envs, MAX_EVAL_ENVS, args.episodes)
    from rl_train.evaluation.checkpoint_eval import evaluate_checkpoint

    result, frames = evaluate_checkpoint(
        target,
        args.episodes,
        seed,
        n_envs,
        deterministic=not args.stochastic,
        env_kwargs=dict(args.env_kwargs),
        video=video,
        video_episodes=args.video_episodes,
        size=size,
    )
    document = _document(target, seed, n_envs, result, video, frames, size)
    document["seeds"] = _seed_stream(seed, run_seed)
    document["env_kwargs"] = dict(args.env_kwargs)
    if args.json:
        print(json.dumps(document, indent=1))
    else:
        print(_text(document))
    return 0


def _main_exported(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`rl-train eval --policy FILE`: the file's policy, in this process (no torch for ONNX)."""
    given = {"RUN": args.target, "--checkpoint": args.checkpoint, "--video": args.video}
    given["--stochastic"] = args.stochastic or None
    for flag, value in given.items():
        if value is not None:  # an exported policy: deterministic, no checkpoints, no renderer
            parser.error(f"{flag} does not go with --policy")
    from rl_train.export.files import ExportedPolicy
    from rl_train.export.playback import evaluate_exported

    policy = ExportedPolicy(Path(args.policy))
    meta = policy.metadata
    env_id = meta["env_id"]
    if args.env is not None:  # a task names the variant of the file's robot and model
        from rl_train.config.train_config import TrainConfig
        from rl_train.vec.env_ids import env_id_of

        robot = TrainConfig(robot_type=meta["robot_type"], use_simple_env=meta["use_simple_env"])
        env_id = env_id_of(args.env, robot)
    if args.env_kwargs:
        from rl_train.evaluation.checkpoint_eval import check_env_kwargs

        check_env_kwargs(env_id, dict(args.env_kwargs))
    run_seed = meta["run_seed"]
    seed = args.seed if args.seed is not None else run_seed + TEST_SEEDS
    n_envs = min(args.n_envs or 8, args.episodes)
    result = evaluate_exported(policy, env_id, args.episodes, seed, n_envs, dict(args.env_kwargs))
    document = {
        "checkpoint": str(policy.path),
        "which": f"exported {policy.format}",
        "step": meta["step"],
        "env_id": env_id,
        "seed": seed,
        "n_envs": n_envs,
        **result.as_dict(),
        "policy": {"path": str(policy.path), "format": policy.format, "metadata": meta},
        "seeds": _seed_stream(seed, run_seed),
        "env_kwargs": dict(args.env_kwargs),
    }
    print(json.dumps(document, indent=1) if args.json else _text(document))
    return 0


def _document(target, seed, n_envs, result, video, frames, size) -> dict[str, Any]:
    found = target.checkpoint
    document = {
        "checkpoint": str(found.path),
        "which": target.which,
        "step": found.step,
        "env_id": target.config.env_id,
        "seed": seed,
        "n_envs": n_envs,
        **result.as_dict(),
    }
    if video is not None:
        document["video"] = {
            "path": str(video),
            "episodes": len(result.films),
            "frames": frames,
            "size": list(size),
            "successes": [film.get("success") for film in result.films],
        }
    return document


def _seed_stream(seed: int, run_seed: int) -> str:
    """Which of the run's episodes these are (docs/evaluation.md, "Seeds")."""
    if seed == run_seed + TEST_SEEDS:
        return "test"
    if seed == run_seed + VALIDATION_SEEDS:
        return "validation"
    return "custom"


SEED_WORDS = {
    "test": "the run's test episodes",
    "validation": "the run's validation episodes, which chose best: not an unbiased score",
    "custom": "--seed",
}


def _text(doc: dict[str, Any]) -> str:
    mode = "deterministic" if doc["deterministic"] else "stochastic"
    kwargs = "".join(f" {k}={v}" for k, v in doc["env_kwargs"].items())
    lines = [
        f"{doc['checkpoint']} ({doc['which']}, step {doc['step']:,}) on {doc['env_id']}{kwargs}: "
        f"{doc['episodes']} episodes, {mode}, seeds from {doc['seed']:,} "
        f"({SEED_WORDS[doc['seeds']]})",
    ]
    if doc["success_rate"] is not None:
        low, high = doc["success_ci95"]
        wins = round(doc["success_rate"] * doc["episodes"])
        lines.append(
            f"  success rate    {doc['success_rate']:.0%}  (95% CI {low:.0%}-{high:.0%}, "
            f"{wins}/{doc['episodes']})"
        )
    else:
        lines.append("  success rate    - (the env reports no is_success)")
    lines.append(f"  return          {doc['mean_return']:.2f} ± {doc['std_return']:.2f}")
    lines.append(f"  episode length  {doc['mean_ep_length']:.1f}")
    if "video" in doc:
        v = doc["video"]
        lines.append(
            f"  video           {v['path']} ({v['episodes']} episodes, {v['frames']} frames, "
            f"{v['size'][0]}x{v['size'][1]}, 25 fps)"
        )
    return "\n".join(lines)
