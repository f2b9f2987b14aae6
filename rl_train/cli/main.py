"""The `rl-train` command: dispatch to training, eval, export, runs, sweep or config; errors
as one line."""

from __future__ import annotations

import os
import signal
import sys

from rl_train.errors import UserError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["runs"]:
            from rl_train.cli.runs import main as runs_main

            return runs_main(argv[1:])
        if argv[:1] == ["sweep"]:
            from rl_train.cli.sweep import main as sweep_main

            return sweep_main(argv[1:])
        if argv[:1] == ["eval"]:
            from rl_train.cli.eval import main as eval_main

            return eval_main(argv[1:])
        if argv[:1] == ["export"]:
            from rl_train.cli.export import main as export_main

            return export_main(argv[1:])
        if argv[:1] == ["config"]:
            from rl_train.cli.config import main as config_main

            return config_main(argv[1:])
        if argv[:1] == ["train"]:
            argv = argv[1:]
        return _train(argv)
    except UserError as exc:
        print(f"rl-train: error: {exc}", file=sys.stderr)
        return exc.exit_code


def _train(argv: list[str]) -> int:
    from rl_train.cli.train import config_from_args
    from rl_train.training.entry import run_training

    config, explicit, resume = config_from_args(argv)
    return run_training(config, explicit, resume).exit_code


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
    if "rl_train.vec.forkserver" in sys.modules:  # no process of ours outlives the command
        sys.modules["rl_train.vec.forkserver"].stop()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
