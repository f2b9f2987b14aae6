"""`rl-train sweep`: multi-seed runs and hyperparameter sweeps on Ray Tune (the optional
extra rl-train[sweep]); `--report NAME` reads a sweep's results without Ray."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from rl_train.cli.parsing import OneLineParser, add_output_dir, whole_number
from rl_train.errors import UserError
from rl_train.sweep.spec import SPEC_FILE, SweepSpec, example_value, parse_seeds

INSTALL_HINT = "pip install 'rl-train[sweep]'"
# Train flags that are the sweep's to set for each trial.
SWEEP_OWNED = ("run_name", "output_dir", "resume", "seed")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="rl-train sweep",
        description=(
            "Run many seeds and configurations at once on Ray Tune, on this machine or a Ray "
            "cluster. Each trial is an ordinary rl-train run in <output-dir>/<name>/. "
            "Training flags for every trial go after `--`, e.g. "
            "`rl-train sweep --seeds 0-4 -- --env push --total-timesteps 500000`."
        ),
    )
    parser.add_argument("--config", metavar="SWEEP.yaml", help="the sweep file (docs/sweeps.md)")
    parser.add_argument("--seeds", help="seeds of every configuration: 0-4 or 0,1,2 (default: 0)")
    parser.add_argument(
        "--num-samples", type=whole_number(1), help="samples of the search space (default: 1)"
    )
    parser.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="a running Ray cluster (`ray start --head`); default: a local one on this "
        "machine's cores",
    )
    parser.add_argument(
        "--max-concurrent",
        type=whole_number(1),
        help="trials at once (default: as many as the cluster's CPUs hold)",
    )
    parser.add_argument(
        "--cpus-per-trial",
        type=float,
        help="CPUs a trial asks for (default: its env workers + 1 for the learner)",
    )
    parser.add_argument(
        "--gpus-per-trial",
        type=float,
        help="GPUs a trial asks for; its learner then runs on the GPU (--device auto; default: 0)",
    )
    parser.add_argument("--name", help="the sweep's name and folder (default: sweep-<time>)")
    add_output_dir(parser, "where the sweep's folder goes")
    parser.add_argument(
        "--resume",
        metavar="NAME",
        help="continue a stopped sweep: each unfinished trial "
        "resumes from its own newest checkpoint",
    )
    parser.add_argument(
        "--report", metavar="NAME", help="print and write a sweep's results (any time)"
    )
    return parser


# A sweep's set-up, which --resume keeps as it was: given with --resume, refused.
_RESUME_FIXED = {
    "--num-samples": "num_samples",
    "--max-concurrent": "max_concurrent",
    "--cpus-per-trial": "cpus_per_trial",
    "--gpus-per-trial": "gpus_per_trial",
    "--name": "name",
}


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        at = argv.index("--")
        return argv[:at], argv[at + 1 :]
    return argv, []


def _spec_from_args(args: argparse.Namespace, train_argv: list[str]) -> SweepSpec:
    from rl_train.cli.train import config_from_args
    from rl_train.config.hyperparams import merge

    spec = SweepSpec.from_file(Path(args.config)) if args.config else SweepSpec(name="")
    if train_argv:
        config, explicit, _ = config_from_args(train_argv)
        owned = sorted(explicit & set(SWEEP_OWNED))
        if owned:
            flag = "--" + owned[0].replace("_", "-")
            raise UserError(
                f"{flag} after `--` is the sweep's to set; use the sweep's --name, "
                "--output-dir, --seeds or --resume"
            )
        if "hyperparams" in explicit:  # every trial's, under the sampled ones
            spec.hyperparams = merge(spec.hyperparams, config.hyperparams)
        spec.base.update({name: getattr(config, name) for name in explicit - {"hyperparams"}})
    if args.seeds is not None:
        spec.seeds = parse_seeds(args.seeds)
    if args.num_samples is not None:
        spec.num_samples = args.num_samples
    if args.max_concurrent is not None:
        spec.max_concurrent = args.max_concurrent
    if args.cpus_per_trial is not None:
        spec.cpus_per_trial = args.cpus_per_trial
    if args.gpus_per_trial is not None:
        spec.gpus_per_trial = args.gpus_per_trial
    if spec.gpus_per_trial and "device" not in spec.base:
        # auto, not cuda: the driver's node may have no GPU where the trials' nodes do.
        spec.base["device"] = "auto"
    spec.name = args.name or spec.name or f"sweep-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    spec.validate("rl-train sweep")
    if spec.cpus_per_trial is not None and spec.cpus_per_trial <= 0:
        raise UserError("--cpus-per-trial must be more than 0")
    return spec


def _probe(spec: SweepSpec, sweep_dir: Path) -> int:
    """Resolve one trial's config before Ray starts: a mistake is one line now, not N
    failed trials later. Returns the trials' total env steps."""
    from rl_train.training.entry import resolve_config

    spec.check_hyperparameters()
    params = {key: example_value(value) for key, value in spec.space.items()}
    config, explicit = spec.trial_config({**params, "seed": spec.seeds[0]}, "probe", sweep_dir)
    resolve_config(config, cli_n_envs_given="n_envs" in explicit)
    return config.total_timesteps


def _import_ray() -> None:
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise UserError(
            f"rl-train sweep runs on Ray Tune, an optional extra: {INSTALL_HINT}"
        ) from None


def main(argv: list[str]) -> int:
    own, train_argv = _split(argv)
    args = build_parser().parse_args(own)
    output_dir = Path(args.output_dir).resolve()
    if args.report and args.resume:
        raise UserError("--report and --resume go apart: report a sweep, or continue it")
    if args.resume:
        dropped = [f for f, value in _RESUME_FIXED.items() if getattr(args, value) is not None]
        if dropped:
            raise UserError(
                f"{dropped[0]} cannot change when a sweep resumes (it continues as it was set "
                f"up); resume without it, or start a new sweep"
            )
    if args.report:
        from rl_train.sweep.report import write_report

        sweep_dir = output_dir / args.report
        print(write_report(SweepSpec.load(sweep_dir), sweep_dir))
        return 0
    if args.resume:
        if args.config or train_argv or args.seeds:
            raise UserError(
                "--resume continues a sweep as it was set up; drop --config, "
                "--seeds and the training flags"
            )
        sweep_dir = output_dir / args.resume
        spec = SweepSpec.load(sweep_dir)
        total = 0
    else:
        spec = _spec_from_args(args, train_argv)
        sweep_dir = output_dir / spec.name
        if (sweep_dir / SPEC_FILE).exists():
            raise UserError(
                f"sweep {spec.name} already exists in {output_dir}; continue it with "
                f"--resume {spec.name}, or choose another --name"
            )
        total = _probe(spec, sweep_dir)
    _import_ray()
    from rl_train.sweep import driver
    from rl_train.sweep.report import write_report

    driver.start_ray(args.address)  # before the sweep's folder: a bad --address writes nothing
    try:
        if not args.resume:
            sweep_dir.mkdir(parents=True, exist_ok=True)
            spec.save(sweep_dir)
        cpus = spec.trial_cpus()
        print(
            f"sweep {spec.name}: {sweep_dir} ({cpus:g} CPU{'s' if cpus != 1 else ''} per trial)",
            flush=True,
        )
        view, interrupted = driver.run(spec, sweep_dir, total, bool(args.resume))
    finally:
        driver.stop_ray()
    print(write_report(spec, sweep_dir), flush=True)
    failed = sorted(name for name, v in view.items() if v["status"] == "ERROR")
    for name in failed:
        print(f"rl-train: trial {name} failed: {view[name]['error']}", file=sys.stderr)
    if interrupted:
        print(
            f"sweep {spec.name} stopped before its end; `rl-train sweep --resume {spec.name}"
            + (f" --output-dir {args.output_dir}" if args.output_dir != "runs" else "")
            + "` continues it",
            file=sys.stderr,
        )
        return 130
    if failed:
        print(f"rl-train: {len(failed)} of {len(view)} trials failed", file=sys.stderr)
        return 1
    return 0
