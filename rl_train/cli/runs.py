"""`rl-train runs <command>`: argument parsing and printing; the work is in rl_train.store."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rl_train.cli import watch
from rl_train.cli.parsing import OneLineParser, add_output_dir, whole_number
from rl_train.errors import UserError
from rl_train.store import clean, query, sync
from rl_train.store.history import History, export, export_many, read_history
from rl_train.store.lock import RunInUse
from rl_train.store.record import RunRecord
from rl_train.store.summary import run_summary
from rl_train.units import format_duration, human_size, parse_age


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_output_dir(common)
    parser = OneLineParser(
        prog="rl-train runs",
        description="Inspect, watch, export, plot, sync and clean local (offline) runs. "
        "A RUN is a run id, a run name, or a path.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    p = sub.add_parser("list", parents=[common], help="table of local runs")
    p.add_argument("--json", action="store_true", help="machine-readable list")

    p = sub.add_parser("show", parents=[common], help="config, summary, files, checkpoints")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--json", action="store_true", help="machine-readable")

    watch.add_parser(sub, common)

    p = sub.add_parser("export", parents=[common], help="history, config, summary to a file")
    p.add_argument("runs", nargs="+", metavar="RUN", help="one run, or several into one long table")
    p.add_argument("--format", choices=("csv", "json"), help="default: from -o's suffix, else csv")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="'-' for stdout")

    p = sub.add_parser("plot", parents=[common], help="learning curves, runs overlaid")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument(
        "--metric",
        action="append",
        help=f"metric key, repeatable (default: {', '.join(runs_plot_defaults())})",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="the PNG to write")
    p.add_argument(
        "--group-by",
        metavar="KEY",
        help="one curve per value of this config key (env_id, n_envs, "
        "hyperparams.learning_rate, ...): the mean of its runs with a 95%% band",
    )
    p.add_argument(
        "--smooth",
        type=whole_number(1),
        default=1,
        metavar="N",
        help="each run's curve as the trailing mean of N points (default: 1, none)",
    )
    p.add_argument(
        "--x",
        choices=("step", "time"),
        default="step",
        help="against env steps or training wall time (default: step)",
    )

    p = sub.add_parser("sync", parents=[common], help="upload runs with `wandb sync`")
    p.add_argument("runs", nargs="*", metavar="RUN", help="default: every unsynced run")
    p.add_argument("--finished-only", action="store_true", help="skip crashed/interrupted runs")
    p.add_argument("--older-than", metavar="AGE", help="only runs idle for AGE (30m, 12h, 2d)")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB[,GLOB]",
        help="leave out the run's saved files that match (path or name: '*.zip' is every "
        "checkpoint's model, 'videos/*' the videos); repeatable",
    )
    p.add_argument(
        "--include-synced",
        action="store_true",
        help="upload runs synced before too, whole: to another server (WANDB_BASE_URL); a "
        "server that has the run would get its rows again",
    )

    p = sub.add_parser(
        "verify", parents=[common], help="W&B logs, journal, checkpoints, code: whole?"
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help="default: every run")
    p.add_argument(
        "--repair",
        action="store_true",
        help="cut W&B logs that end inside a record back to their last whole record "
        "(the original kept as .bak)",
    )

    p = sub.add_parser("clean", parents=[common], help="delete runs to free disk")
    p.add_argument("runs", nargs="*", metavar="RUN", help="these runs (default: all that match)")
    p.add_argument("--synced", action="store_true", help="runs whose data is on the server")
    p.add_argument("--crashed", action="store_true", help="runs that crashed")
    p.add_argument("--older-than", metavar="AGE", help="runs idle for AGE (30m, 12h, 2d)")
    p.add_argument("--force", action="store_true", help="also delete runs that are not synced")
    p.add_argument("--dry-run", action="store_true", help="show what would be freed")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = sub.add_parser(
        "pack", parents=[common], help="one portable .tar.gz of a run, checksums inside"
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "-o", "--output", metavar="FILE.tar.gz", help="default: <run name>.tar.gz in this folder"
    )

    p = sub.add_parser(
        "unpack", parents=[common], help="a packed run into --output-dir, checked first"
    )
    p.add_argument("archive", metavar="FILE.tar.gz")

    p = sub.add_parser("dashboard", parents=[common], help="TensorBoard on the runs")
    p.add_argument("runs", nargs="*", metavar="RUN", help="default: every run under --output-dir")
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    p.add_argument("--port", type=int, default=6006, help="default: 6006")
    return parser


def runs_plot_defaults() -> tuple[str, ...]:
    from rl_train.store.plotting import DEFAULT_METRICS

    return DEFAULT_METRICS


# ---------------------------------------------------------------- list / show


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "-"


def _sessions(record: RunRecord) -> str:
    """How many sessions, and whether the latest resume continued bit for bit."""
    if record.resumed_exactly is None:
        return str(record.sessions)
    how = "exactly" if record.resumed_exactly else f"not exactly: {record.resume_not_exact_because}"
    return f"{record.sessions} (the latest resumed {how})"


def _percent(value: float | None) -> str:
    return f"{value:.0%}" if value is not None else "-"


def _rate(steps_per_s: float | None) -> str:
    return f"{steps_per_s:,.0f}" if steps_per_s is not None else "-"


def _eta(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "?"


def _ago(timestamp: float | None) -> str:
    return f"{format_duration(time.time() - timestamp)} ago" if timestamp else "never"


def _short_env(env_id: str) -> str:
    return env_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def cmd_list(args: argparse.Namespace) -> int:
    summaries = [run_summary(run) for run in query.find_runs(Path(args.output_dir))]
    if args.json:
        print(json.dumps(summaries, indent=1))
        return 0
    if not summaries:
        print(f"no runs under {args.output_dir}")
        return 0
    header = (
        "ID",
        "NAME",
        "ENV",
        "STATE",
        "STEPS",
        "STEPS/S",
        "SUCCESS",
        "SIZE",
        "SYNCED",
        "ENDED",
    )
    rows = [
        (
            s["run_id"],
            s["name"],
            _short_env(s["env_id"]),
            s["state"],
            f"{s['steps']:,}",
            _rate(s["steps_per_s"]),
            _percent(s["success_rate"]),
            human_size(s["size_bytes"]),
            s["sync_status"],
            f"ETA {_eta(s['eta_s'])}" if s["state"] == "running" else _when(s["ended_at"]),
        )
        for s in summaries
    ]
    _print_table(header, rows)
    return 0


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def cmd_show(args: argparse.Namespace) -> int:
    run = query.resolve_run(Path(args.output_dir), args.run)
    summary = run_summary(run)
    history = read_history(run)
    checkpoints = query.checkpoints(run)
    best = query.best_checkpoint(run)
    if args.json:
        document = {
            **summary,
            "config": query.read_config(run),
            "summary": history.summary,
            "files": history.files,
            "history_rows": len(history.rows),
            "warnings": history.warnings,
            "checkpoints": [
                {
                    "step": c.step,
                    "path": str(c.path),
                    "size_bytes": c.size_bytes,
                    "latest": c.latest,
                }
                for c in checkpoints
            ],
            "best_checkpoint": None
            if best is None
            else {
                "step": best.step,
                "path": str(best.path),
                "size_bytes": best.size_bytes,
                "eval": best.eval,
                "test": best.test,
            },
        }
        print(json.dumps(document, indent=1, default=str))
        return 0
    _print_show(run, summary, history, checkpoints, best)
    return 0


def _print_show(run: query.LocalRun, summary: dict, history: History, checkpoints, best) -> None:
    record = run.record
    state = summary["state"]
    if state != record.state:
        state += f" (recorded as {record.state}; its process {record.pid} is gone)"
    synced = summary["sync_status"]
    if summary["synced_at"]:
        synced += f" (last sync {_when(summary['synced_at'])})"
    steps = f"{summary['steps']:,} / {record.total_timesteps:,}"
    if summary["steps_per_s"] is not None:
        steps += f", {_rate(summary['steps_per_s'])} steps/s"
    if summary["state"] == "running":
        written = _ago(summary["progress_updated_at"])
        steps += f", ETA {_eta(summary['eta_s'])} (journal written {written})"
    latest = summary["latest_checkpoint"]
    tested = record.state != "running" and record.test is not None
    success_of = "final policy, test episodes" if tested else "newest rollouts"
    print(f"run {run.name}  id {run.run_id}")
    for label, value in (
        ("path", run.path),
        ("env", record.env_id),
        ("state", state),
        ("steps", steps),
        ("success rate", f"{_percent(summary['success_rate'])} ({success_of})"),
        ("rollouts", _percent(summary["rollout_success_rate"]) + " success (newest)"),
        ("validation", _percent(summary["validation_success_rate"]) + " success (newest)"),
        ("checkpoint", f"{latest:,} (newest)" if latest is not None else "(none)"),
        ("started", _when(record.started_at)),
        ("ended", _when(record.ended_at)),
        ("sessions", _sessions(record)),
        ("size", human_size(summary["size_bytes"])),
        ("synced", synced),
        ("history", f"{len(history.rows)} rows (steps with metrics)"),
    ):
        print(f"  {label + ':':<14}{value}")
    if record.machines:
        print("  trained on:")
    for where in record.machines:
        session, step = where["session"], where["from_step"]
        print(f"    session {session} from step {step:,}: {where['machine']}")
    print("  W&B folders:")
    for folder in summary["wandb_dirs"] or ["(none)"]:
        print(f"    {folder}")
    for warning in history.warnings:
        print(f"  warning: {warning}")
    print("config:")
    _print_mapping(query.read_config(run), indent="  ")
    print("summary:")
    scalars = {k: v for k, v in history.summary.items() if not k.startswith("_")}
    _print_mapping(scalars, indent="  ")
    print(f"files saved to W&B: {len(history.files)}")
    code = [name for name in history.files if name.startswith("code/")]
    for name in history.files:
        if name not in code:
            print(f"  {name}")
    if code:
        print(f"  code/ ({len(code)} files: the source snapshot)")
    print("checkpoints:")
    for c in checkpoints or []:
        latest = "  (latest)" if c.latest else ""
        print(f"  {c.step:>10,}  {human_size(c.size_bytes):>9}  {c.path}{latest}")
    if not checkpoints:
        print("  (none)")
    if best is not None:
        score = best.eval.get("success_rate")
        what = f"success {_percent(score)}" if score is not None else "no success rate"
        returns = best.eval.get("mean_return")
        if returns is not None:
            what += f", return {returns:.2f}"
        episodes = best.eval.get("episodes", "?")
        test = ""
        if best.test.get("success_rate") is not None:
            test = (
                f"; test success {_percent(best.test['success_rate'])} over "
                f"{best.test['episodes']} test episodes"
            )
        print(
            f"  {'best':>10}  {human_size(best.size_bytes):>9}  {best.path}  (step "
            f"{best.step:,}: validation {what} over {episodes} episodes{test})"
        )


def _print_mapping(mapping: dict[str, Any], indent: str) -> None:
    for key in sorted(mapping):
        value = mapping[key]
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_mapping(value, indent + "  ")
        else:
            print(f"{indent}{key}: {value}")


# ---------------------------------------------------------------- export / plot


def cmd_export(args: argparse.Namespace) -> int:
    selected = query.resolve_runs(Path(args.output_dir), args.runs)
    fmt = args.format or ("json" if args.output.endswith(".json") else "csv")
    histories = [(run, read_history(run)) for run in selected]
    with _open_output(args.output) as out:
        if len(histories) == 1:
            export(*histories[0], fmt, out)
        else:
            export_many(histories, fmt, out)
    for _run, history in histories:
        for warning in history.warnings:
            print(f"rl-train: warning: {warning}", file=sys.stderr)
    if args.output != "-":
        what = "history" if fmt == "csv" else "history, config and summary"
        steps = sum(len(history.rows) for _, history in histories)
        names = ", ".join(run.name for run, _ in histories)
        print(f"exported {what} of {names}: {steps} steps -> {args.output}")
        if fmt == "csv":
            print("  (config and summary: --format json)")
    return 0


@contextmanager
def _open_output(path: str):
    if path == "-":
        yield sys.stdout
        return
    try:
        with open(path, "w", newline="") as out:
            yield out
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}); choose another -o") from None


def cmd_plot(args: argparse.Namespace) -> int:
    from rl_train.store.curves import config_value, curve, group_band
    from rl_train.store.plotting import plot_curves

    selected = query.resolve_runs(Path(args.output_dir), args.runs)
    metrics = args.metric or list(runs_plot_defaults())
    histories = {run.name: read_history(run) for run in selected}
    groups: dict[str, list[str]] = {name: [name] for name in histories}
    if args.group_by:
        groups = {}
        for run in selected:
            value = config_value(query.read_config(run), args.group_by)
            if value is None:
                raise UserError(
                    f"run {run.name} has no config key {args.group_by!r}; see `rl-train runs "
                    f"show {run.name}` for its config (nested keys with dots)"
                )
            groups.setdefault(f"{args.group_by}={value}", []).append(run.name)
    curves: dict[str, dict] = {}
    for metric in metrics:
        lines = {}
        for label, names in groups.items():
            found = [curve(histories[n], metric, args.x, args.smooth) for n in names]
            found = [c for c in found if c[0]]
            if not found:
                continue
            if args.group_by:
                lines[f"{label} ({len(found)} run{'s' if len(found) > 1 else ''})"] = group_band(
                    found
                )
            else:
                lines[label] = found[0]
        if not lines:
            known = sorted({k for h in histories.values() for k in h.keys()} - {"_step"})
            hint = ", ".join(k for k in known if not k.startswith("_"))[:300]
            raise UserError(f"no run has metric {metric!r}; choose --metric from: {hint}")
        for name in sorted(n for n, h in histories.items() if not h.series(metric)[0]):
            print(f"rl-train: warning: {name} has no {metric}", file=sys.stderr)
        curves[metric] = lines
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"cannot write {out}: no directory {out.parent}; create it first")
    plot_curves(curves, out, args.x)
    what = f"{len(groups)} group(s) of " if args.group_by else ""
    print(f"plotted {what}{len(selected)} run(s), {len(metrics)} metric(s) -> {out}")
    return 0


# ---------------------------------------------------------------- sync


def _selected(args: argparse.Namespace) -> list[query.LocalRun]:
    output_dir = Path(args.output_dir)
    return query.resolve_runs(output_dir, args.runs) if args.runs else query.find_runs(output_dir)


def _refuse_in_use(selected: list[query.LocalRun], fix: str) -> None:
    """A run named on the command line that another process holds ends the command."""
    for run in selected:
        holder = run.in_use()
        if holder is not None:
            raise RunInUse(run.path, holder, fix)


def cmd_sync(args: argparse.Namespace) -> int:
    from rl_train.tracking.server import check_server_reachable, server_url

    min_age = parse_age(args.older_than) if args.older_than else None
    exclude = [glob.strip() for text in args.exclude for glob in text.split(",") if glob.strip()]
    selected = _selected(args)
    if args.runs:
        _refuse_in_use(selected, sync.SYNC_BUSY)
    plans = sync.plan_sync(selected, args.finished_only, min_age, args.include_synced)
    todo = [p for p in plans if not p.skip_reason]
    for plan in plans:
        if plan.skip_reason and (args.runs or plan.skip_reason != "already synced"):
            print(f"skip {plan.run.name}: {plan.skip_reason}")
    if not todo:
        print("nothing to sync")
        return 0
    todo, damaged = _verified(todo)
    if damaged and (args.runs or not todo):
        raise UserError(damaged[0] + (f" (and {len(damaged) - 1} more)" if damaged[1:] else ""))
    if args.dry_run:
        for plan in todo:
            print(f"would sync {plan.run.name} ({plan.run.run_id}), oldest first:")
            for folder in plan.folders:
                print(f"  {folder}")
        return 0
    base_url = server_url()
    try:
        # wandb sync retries an unreachable server for minutes; fail in seconds instead.
        check_server_reachable(base_url)
    except UserError:
        raise UserError(
            f"W&B server {base_url} is not reachable; nothing was synced: start it or set "
            "WANDB_BASE_URL (the runs stay local and unsynced)",
            exit_code=3,
        ) from None
    wandb_exe = sync.wandb_executable()
    failed = []
    for plan in todo:
        try:
            sync.sync_run(plan, wandb_exe, base_url, exclude, whole=args.include_synced)
        except UserError as exc:
            failed.append(str(exc))
            continue
        print(f"synced {plan.run.name} ({plan.run.run_id}): {len(plan.folders)} W&B folder(s)")
    failed += damaged
    if failed:
        more = f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""
        raise UserError(failed[0] + more, exit_code=1)
    return 0


def _verified(plans: list[sync.SyncPlan]) -> tuple[list[sync.SyncPlan], list[str]]:
    """The plans whose runs' data is whole (store/verify.py), and a line for each other."""
    from rl_train.store.verify import verify_run

    sound, damaged = [], []
    for plan in plans:
        verdict = verify_run(plan.run)
        for finding in verdict.findings:
            if not finding.damaged:
                print(f"rl-train: warning: {plan.run.name}: {finding.what}", file=sys.stderr)
        if not verdict.damaged:
            sound.append(plan)
            continue
        first = verdict.damaged[0]
        fix = (
            f"rl-train runs verify {plan.run.name} --repair, then sync"
            if first.repairable
            else f"restore it, or see rl-train runs verify {plan.run.name}"
        )
        damaged.append(f"{plan.run.name} is damaged, not synced: {first.what}; {fix}")
    return sound, damaged


def cmd_verify(args: argparse.Namespace) -> int:
    from rl_train.store.verify import repair_run, verify_run

    selected = _selected(args)
    if not selected:
        print(f"no runs under {args.output_dir}")
        return 0
    if args.repair and args.runs:
        _refuse_in_use(selected, "repair it when it ends")
    damaged = 0
    for run in selected:
        if args.repair and run.in_use() is None:
            for repaired in repair_run(run):
                print(f"{run.name}: cut {repaired} back to its last whole record (.bak kept)")
        verdict = verify_run(run)
        state = "damaged" if verdict.damaged else "ok"
        print(f"{run.name} ({run.run_id}): {state}; checked {', '.join(verdict.checked)}")
        for finding in verdict.findings:
            mark = "damaged" if finding.damaged else "note"
            print(f"  {mark}: {finding.what}")
        damaged += bool(verdict.damaged)
    return 1 if damaged else 0


# ---------------------------------------------------------------- clean


def cmd_clean(args: argparse.Namespace) -> int:
    if not (args.runs or args.synced or args.crashed or args.older_than):
        raise UserError(
            "clean needs a selection; pass RUN names, --synced, --crashed or --older-than AGE"
        )
    min_age = parse_age(args.older_than) if args.older_than else None
    selected = _selected(args)
    if args.runs:
        _refuse_in_use(selected, clean.CLEAN_BUSY)
    choices = clean.choose_for_clean(selected, args.synced, args.crashed, min_age, args.force)
    for choice in choices:
        if choice.refused:
            print(f"keep   {choice.run.name}: {choice.refused}")
    doomed = [c for c in choices if not c.refused]
    if not doomed:
        print("nothing to delete")
        return 0
    total = sum(c.size_bytes for c in doomed)
    verb = "would delete" if args.dry_run else "will delete"
    for choice in doomed:
        status = sync.sync_status(choice.run)
        print(
            f"{verb} {choice.run.name} ({choice.run.state}, {status}, "
            f"{human_size(choice.size_bytes)})"
        )
    if args.dry_run:
        print(f"would free {human_size(total)} ({len(doomed)} run(s)); nothing deleted")
        return 0
    if not args.yes and not _confirm(f"Delete {len(doomed)} run(s), {human_size(total)}?"):
        print("nothing deleted")
        return 1
    for choice in doomed:
        clean.delete_run(choice.run)
    print(f"freed {human_size(total)} ({len(doomed)} run(s) deleted)")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin or not sys.stdin.isatty():
        raise UserError("not deleting without confirmation (stdin is not a terminal); pass --yes")
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


# ---------------------------------------------------------------- pack / unpack


def cmd_pack(args: argparse.Namespace) -> int:
    from rl_train.store.atomic import check_output_path
    from rl_train.store.pack import pack_run

    run = query.resolve_run(Path(args.output_dir), args.run)
    output = Path(args.output or f"{run.name}.tar.gz")
    check_output_path(output, f"-o {output}")
    packed = pack_run(run, output)
    links = f", {len(packed.skipped_links)} link(s) left out" if packed.skipped_links else ""
    print(
        f"packed {run.name} ({run.run_id}): {packed.files} files, "
        f"{human_size(packed.bytes)} -> {output} ({human_size(output.stat().st_size)}){links}"
    )
    return 0


def cmd_unpack(args: argparse.Namespace) -> int:
    from rl_train.store.pack import unpack_run

    run = unpack_run(Path(args.archive), Path(args.output_dir))
    then = (
        f"evaluate it with rl-train eval {run.path}"
        if run.state == "finished"
        else f"resume it with rl-train --resume {run.path}"
    )
    checked = "every file matches its checksum"
    print(f"unpacked {run.name} ({run.run_id}) into {run.path}: {checked}; {then}")
    return 0


# ---------------------------------------------------------------- dashboard


def cmd_dashboard(args: argparse.Namespace) -> int:
    output_dir = Path(args.output_dir)
    selected = _selected(args)
    tb_dirs = list(query.iter_tb_dirs(selected))
    if not tb_dirs:
        raise UserError(f"no TensorBoard logs in the runs under {output_dir}; train a run first")
    if args.runs:
        # Named runs only, each shown under its run name.
        logdir = ["--logdir_spec", ",".join(f"{name}:{path}" for name, path in tb_dirs)]
    else:
        logdir = ["--logdir", str(output_dir)]  # also picks up runs started later
    url = _launch_tensorboard([*logdir, "--host", args.host, "--port", str(args.port)])
    print(f"TensorBoard on {len(tb_dirs)} run(s): {url}  (Ctrl-C to stop)", flush=True)
    stopped = threading.Event()
    # SIGTERM (kill, a service manager) stops it as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    print("dashboard stopped", flush=True)
    return 0


def _launch_tensorboard(argv: list[str]) -> str:
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, *argv])
    try:
        return board.launch()
    except program.TensorBoardPortInUseError:
        port = argv[argv.index("--port") + 1]
        raise UserError(f"port {port} is in use; pass --port with a free one") from None
    except program.TensorBoardServerException as exc:
        raise UserError(f"TensorBoard did not start ({exc.msg}); check --host/--port") from None


COMMANDS = {
    "list": cmd_list,
    "show": cmd_show,
    "watch": watch.cmd_watch,
    "export": cmd_export,
    "plot": cmd_plot,
    "sync": cmd_sync,
    "clean": cmd_clean,
    "verify": cmd_verify,
    "pack": cmd_pack,
    "unpack": cmd_unpack,
    "dashboard": cmd_dashboard,
}


def main(argv: list[str]) -> int:
    """Called by rl_train.cli, which prints UserError as one line."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # `rl-train runs list | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
