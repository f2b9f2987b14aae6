"""`rl-train export RUN|CHECKPOINT`: the deterministic policy as an ONNX or TorchScript file,
checked against SB3 before it is written."""

from __future__ import annotations

import argparse
from pathlib import Path

from rl_train.cli.parsing import OneLineParser, add_output_dir, whole_number
from rl_train.errors import UserError
from rl_train.export.files import CHECK_OBSERVATIONS, FORMATS, format_of
from rl_train.store.atomic import check_output_path


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rl-train export",
        description="Write a trained policy as one file to run without rl-train: what SB3's "
        "predict(deterministic=True) computes, observation normalization and the action's "
        "clip to its box included, with the run's metadata inside. Written only once the "
        "file, loaded back, gives SB3's actions (to 1e-5) on observations from real episodes "
        "of the run's env. RUN is a run id, name or path (its best checkpoint, else the "
        "latest), or a checkpoint dir. How to run the file: docs/deploy.md.",
    )
    parser.add_argument("target", metavar="RUN|CHECKPOINT")
    parser.add_argument("--checkpoint", metavar="latest|best|STEP", help="which checkpoint of RUN")
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="default: from -o's suffix (.onnx, .pt), else onnx",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="default: <run name>-<step>.onnx (or .pt) in the current folder",
    )
    parser.add_argument(
        "--check-observations",
        type=whole_number(CHECK_OBSERVATIONS),
        default=CHECK_OBSERVATIONS,
        metavar="N",
        help=f"observations the file is checked on (default and least: {CHECK_OBSERVATIONS:,})",
    )
    add_output_dir(parser)
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    output = Path(args.output) if args.output else None
    fmt = args.format or (format_of(output) if output else None) or "onnx"
    if output is not None:
        check_output_path(output, f"-o {output}")
    _check_installed(fmt)
    from rl_train.evaluation.policy import find_target
    from rl_train.export.exporter import export_policy

    target = find_target(args.target, Path(args.output_dir), args.checkpoint)
    if output is None:
        name = target.config.run_name or target.checkpoint.path.parent.parent.name
        output = Path(f"{name}-{target.checkpoint.step}{FORMATS[fmt]}")
        check_output_path(output, f"-o {output}")
    report = export_policy(target, fmt, output, observations=args.check_observations)
    meta = report.metadata
    print(
        f"{report.path}: {fmt}, {meta['env_id']} policy of {target.checkpoint.path} "
        f"({target.which}, step {meta['step']:,}); acts as SB3 on {report.observations:,} "
        f"observations from its env (largest difference {report.max_difference:.1g})"
    )
    return 0


def _check_installed(fmt: str) -> None:
    import importlib.util

    needed = ["onnx", "onnxscript", "onnxruntime"] if fmt == "onnx" else []
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"--format {fmt} needs {', '.join(missing)}; pip install 'rl-train[export]'"
        )
