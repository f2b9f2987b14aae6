"""`rl-train runs watch`: a live view of running runs (rich) or one plain line per run per
interval when stdout is not a terminal. What it watches is followed by store/live.py."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from rl_train.cli.parsing import seconds
from rl_train.errors import UserError
from rl_train.store import query
from rl_train.store.live import DEFAULT_METRICS, Watch, WatchedRun, running_runs
from rl_train.units import format_duration

MIN_INTERVAL_S = 0.2
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24
BAR_WIDTH = 24
STATE_STYLES = {
    "running": "green",
    "starting": "cyan",
    "finished": "bold blue",
    "interrupted": "yellow",
    "crashed": "bold red",
    "aborted": "red",
    "gone": "dim",
}
HELP = (
    "Live progress of runs from the files they write (never their lock): steps, steps/s, "
    "ETA, rollout and eval success, sparklines of chosen metrics. Redraws on a terminal, "
    "prints one line per run per interval otherwise. Ctrl-C stops it (exit 0); with "
    "--exit-when-done it ends with 0 once every watched run has ended."
)


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("watch", parents=[common], help="live progress of runs", description=HELP)
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="default: every running run under --output-dir, and those that start later",
    )
    p.add_argument(
        "--metric",
        action="append",
        metavar="KEY",
        help=f"journal key as a sparkline, repeatable (default: {', '.join(DEFAULT_METRICS)})",
    )
    p.add_argument(
        "--interval",
        type=seconds(MIN_INTERVAL_S),
        default=2.0,
        metavar="S",
        help="seconds (default: 2)",
    )
    p.add_argument(
        "--exit-when-done", action="store_true", help="end (exit 0) when every run has ended"
    )


def cmd_watch(args: argparse.Namespace) -> int:
    output_dir = Path(args.output_dir)
    if args.runs:
        paths = [run.path for run in query.resolve_runs(output_dir, args.runs)]
    else:
        paths = running_runs(output_dir)
        if not paths:
            raise UserError(
                f"no run is training under {output_dir}; name a RUN to watch "
                f"(`rl-train runs list --output-dir {output_dir}`) or start one"
            )
    watch = Watch(output_dir, paths, tuple(args.metric or DEFAULT_METRICS), not args.runs)
    view = LiveView(watch, args.interval) if sys.stdout.isatty() else PlainView(watch)
    stopped = threading.Event()
    # SIGTERM (kill, a job's end) stops it as cleanly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    checked_metrics = False
    try:
        with view:
            while True:
                events = watch.refresh()
                if not checked_metrics and any(run.keys for run in watch.runs):
                    checked_metrics = True
                    _check_metrics(watch, explicit=bool(args.metric))
                view.show(events)
                if args.exit_when_done and watch.all_ended:
                    return 0
                if stopped.wait(args.interval):
                    return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_metrics(watch: Watch, explicit: bool) -> None:
    missing = watch.missing_metrics()
    if not missing or not explicit:
        return
    known = ", ".join(watch.known_keys())[:300]
    if watch.all_ended:  # nothing will log it any more
        raise UserError(f"no watched run has metric {missing[0]!r}; choose --metric from: {known}")
    print(
        f"rl-train: warning: no watched run has logged {', '.join(missing)} yet; "
        f"the journal has: {known}",
        file=sys.stderr,
        flush=True,
    )


# ---------------------------------------------------------------- what a run shows


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """The whole history in `width` characters: the mean of each equal slice."""
    if not values:
        return ""
    if len(values) > width:
        slices = [
            values[i * len(values) // width : (i + 1) * len(values) // width] for i in range(width)
        ]
        values = [sum(s) / len(s) for s in slices]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return SPARK[len(SPARK) // 2 - 1] * len(values)
    scale = (len(SPARK) - 1) / (high - low)
    return "".join(SPARK[round((v - low) * scale)] for v in values)


def _percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _number(value: object) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _cells(run: WatchedRun) -> dict[str, str]:
    p = run.progress
    if p is None:
        return {"steps": "-", "percent": "", "rate": "-", "eta": "-", "success": "-", "eval": "-"}
    return {
        "steps": f"{p.steps:,}/{p.total_timesteps:,}",
        "percent": f"{p.fraction:.0%}",
        "rate": f"{p.steps_per_s:,.0f}" if p.steps_per_s is not None else "-",
        "eta": format_duration(p.eta_s) if p.eta_s is not None else "-",
        "success": _percent(p.rollout_success_rate),
        "eval": _percent(p.eval_success_rate),
    }


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


# ---------------------------------------------------------------- the two views


class PlainView:
    """Not a terminal (a pipe, a log, CI): one line per running run per interval, and a
    line for each thing that happened (a finish, a crash, a resume)."""

    def __init__(self, watch: Watch) -> None:
        self.watch = watch

    def __enter__(self) -> PlainView:
        names = ", ".join(run.name for run in self.watch.runs)
        print(f"{_stamp()}  watching {names}", flush=True)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()

    def show(self, events: list[str]) -> None:
        stamp = _stamp()
        for event in events:
            print(f"{stamp}  {event}")
        for run in self.watch.runs:
            if run.state == "running":
                print(f"{stamp}  {self.line(run)}")
        sys.stdout.flush()

    def line(self, run: WatchedRun) -> str:
        c = _cells(run)
        metrics = "".join(
            f"  {metric} {_number(run.newest.get(metric))}" for metric in self.watch.metrics
        )
        return (
            f"{run.name}  {run.state}  {c['steps']} steps ({c['percent']})  "
            f"{c['rate']} steps/s  ETA {c['eta']}  success {c['success']}  "
            f"eval {c['eval']}{metrics}"
        )


class LiveView:
    """A terminal: a table redrawn in place (rich), events printed above it."""

    def __init__(self, watch: Watch, interval: float) -> None:
        from rich.console import Console
        from rich.live import Live

        self.watch = watch
        self.interval = interval
        self.console = Console()
        self.live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def show(self, events: list[str]) -> None:
        stamp = _stamp()
        for event in events:
            self.live.console.print(f"{stamp}  {event}", markup=False, highlight=False)
        self.live.update(self.table(), refresh=True)

    def table(self):
        """One row per run, then a row per chosen metric: its sparkline under the progress
        bar (the same width), its newest value beside it; narrow enough for 120 columns."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        title = (
            f"rl-train runs watch  {self.watch.output_dir}  {_stamp()}  "
            f"(every {self.interval:g}s, Ctrl-C to stop)"
        )
        table = Table(title=title, title_justify="left", box=None, padding=(0, 1))
        table.add_column("RUN", overflow="ellipsis", max_width=32)
        for header in ("STATE", "PROGRESS", ""):
            table.add_column(header, no_wrap=True)
        for header in ("STEPS", "STEPS/S", "ETA", "SUCCESS", "EVAL"):
            table.add_column(header, no_wrap=True, justify="right")
        for run in self.watch.runs:
            c = _cells(run)
            p = run.progress
            bar = ProgressBar(
                total=p.total_timesteps if p else 1,
                completed=p.steps if p else 0,
                width=BAR_WIDTH,
            )
            state = Text(run.state or "?", style=STATE_STYLES.get(run.state, ""))
            table.add_row(
                Text(run.name, style="bold"), state, bar, c["percent"], c["steps"],
                c["rate"], c["eta"], c["success"], c["eval"],
            )  # fmt: skip
            for metric in self.watch.metrics:
                table.add_row(
                    Text(f"  {metric}", style="dim"),
                    "",
                    Text(sparkline(run.series[metric], BAR_WIDTH), style="cyan"),
                    _number(run.newest.get(metric)),
                )
        return table
