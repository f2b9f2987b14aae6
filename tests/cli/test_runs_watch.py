"""A run watched from a second shell while it trains, as a user would: `runs list/show --json`
read twice during training and once after, `runs watch` piped (plain lines) and under a
pseudo-terminal (the redrawn view), and a run followed through a crash and its resume."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest
from conftest import CLI, cli_env, run_cli, start_cli

from rl_train.cli.watch import SPARK
from rl_train.store import checkpoint
from rl_train.store.record import RunRecord

ROLLOUT = 256  # 4 envs x 64 steps
# The kinematic env trains some 2,000 steps/s here with the watchers beside it: several
# seconds of training after a start-up of about seven.
TOTAL = 120 * ROLLOUT
TRAIN = ["--use-simple-env", "--vec-env", "native", "--n-envs", "4", "--output-dir", "runs"]
LINE = re.compile(r"^\d\d:\d\d:\d\d  (\S+)  running  ([\d,]+)/([\d,]+) steps ")


def start_training(cwd: Path, *args: str) -> subprocess.Popen:
    return start_cli([*TRAIN, *args], cwd, stdout=subprocess.DEVNULL)


def _terminal_ctrl_c() -> None:
    # A watcher on a terminal gets Ctrl-C; one started from a background job inherits an
    # ignored SIGINT (what shells do to background jobs), which would make the test's
    # Ctrl-C a no-op rather than test anything.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_watch(cwd: Path, *args: str, **popen) -> subprocess.Popen:
    return start_cli(
        ["runs", "watch", *args, "--output-dir", "runs"],
        cwd,
        preexec_fn=_terminal_ctrl_c,  # noqa: PLW1509 (before exec, nothing else runs)
        **popen,
    )


def wait_for(what, process: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def journal_rows(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.jsonl").read_text().count("\n")
    except OSError:
        return 0


def runs_json(cwd: Path, *args: str):
    done = run_cli(["runs", *args, "--json", "--output-dir", "runs"], cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def listed(cwd: Path, name: str) -> dict:
    return {entry["name"]: entry for entry in runs_json(cwd, "list")}[name]


def in_pty(argv: list[str], cwd: Path, timeout: float, cols: int = 200) -> tuple[int, str]:
    """Run argv on a pseudo-terminal of `cols` columns: (exit code, everything it drew)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    process = subprocess.Popen(
        argv, cwd=cwd, env=cli_env(TERM="xterm-256color"), stdin=slave, stdout=slave,
        stderr=slave, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    drawn = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's other side closed: the process ended
                break
            if not data:
                break
            drawn += data
        elif process.poll() is not None:
            break
    else:
        process.kill()
    os.close(master)
    return process.wait(timeout=30), drawn.decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """One real run in the background, read by `runs list/show --json` twice while it
    trains and once after, and watched all along, piped and on a terminal."""
    cwd = tmp_path_factory.mktemp("watch")
    run_dir = cwd / "runs" / "bg"
    trainer = start_training(
        cwd, "--total-timesteps", str(TOTAL), "--checkpoint-freq", "2048", "--run-name", "bg"
    )
    wait_for(lambda: (run_dir / "run.json").exists(), trainer)
    watch_args = ["bg", "--exit-when-done", "--interval", "0.5"]
    plain = start_watch(cwd, *watch_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)  # fmt: skip
    drawn: dict = {}
    argv = [*CLI, "runs", "watch", *watch_args]
    terminal = threading.Thread(
        target=lambda: drawn.update(result=in_pty([*argv, "--output-dir", "runs"], cwd, 240))
    )
    terminal.start()

    wait_for(lambda: checkpoint.list_checkpoints(run_dir / "checkpoints"), trainer)
    first = listed(cwd, "bg")
    rows = journal_rows(run_dir)
    wait_for(lambda: journal_rows(run_dir) >= rows + 3, trainer)  # three rollouts later
    second = runs_json(cwd, "show", "bg")
    training_during_reads = trainer.poll() is None

    _, trainer_err = trainer.communicate(timeout=300)
    final = (listed(cwd, "bg"), runs_json(cwd, "show", "bg"))
    plain_out, plain_err = plain.communicate(timeout=120)
    terminal.join(timeout=300)
    return {
        "cwd": cwd,
        "during": (first, second, training_during_reads),
        "trainer": (trainer.returncode, trainer_err),
        "final": final,
        "plain": (plain.returncode, plain_out, plain_err),
        "terminal": drawn.get("result"),
    }


def test_list_and_show_report_a_training_runs_progress(watched):
    first, second, training = watched["during"]
    assert training, "the run ended before the second read; give it more steps"
    for read in (first, second):
        assert read["state"] == "running"
        assert 0 < read["steps"] < TOTAL and read["total_timesteps"] == TOTAL
        assert read["steps_per_s"] > 0 and read["eta_s"] > 0
        assert 0.0 <= read["success_rate"] <= 1.0  # the newest rollouts' success
        assert read["latest_checkpoint"] >= 2048
    assert second["steps"] >= first["steps"] + 3 * ROLLOUT  # it grew between the reads


def test_list_and_show_give_the_final_numbers_after_the_end(watched):
    code, err = watched["trainer"]
    assert code == 0, err
    record = RunRecord.load(watched["cwd"] / "runs" / "bg")
    for read in watched["final"]:
        assert read["state"] == "finished" and read["steps"] == TOTAL == record.steps
        assert read["success_rate"] == record.success_rate is not None  # the final evaluation
        assert read["eval_success_rate"] == record.success_rate
        assert read["steps_per_s"] > 0 and read["eta_s"] is None
        assert read["latest_checkpoint"] == TOTAL


def test_piped_watch_sees_the_steps_rise_and_the_finish_then_exits_0(watched):
    code, out, err = watched["plain"]
    assert code == 0, err
    lines = out.splitlines()
    steps = [int(m.group(2).replace(",", "")) for m in map(LINE.match, lines) if m]
    assert len(steps) >= 3 and steps == sorted(steps) and steps[-1] > steps[0], out
    assert all("steps/s  ETA" in line and "success" in line for line in lines if LINE.match(line))
    assert re.search(rf"  bg: finished at {TOTAL:,}/{TOTAL:,} steps, success \d+%", lines[-1])
    assert "\x1b[" not in out  # no terminal codes in a pipe


def test_watch_on_a_terminal_redraws_the_name_a_progress_bar_and_sparklines(watched):
    code, drawn = watched["terminal"]
    assert code == 0, drawn[-2000:]
    assert "\x1b[1A\x1b[2K" in drawn  # cursor up, erase line: the table is redrawn in place
    frames = drawn.split("rl-train runs watch  runs")
    assert len(frames) >= 4
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frames[-1])
    lines = last.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(" bg "))
    row = lines[at]
    assert "finished" in row and f"{TOTAL:,}/{TOTAL:,}" in row and "100%" in row
    assert "━━━━━━━━━━" in row  # rich's progress bar
    for line, metric in zip(lines[at + 1 : at + 3], ("ep_rew_mean", "success_rate"), strict=True):
        assert line.split()[0] == f"rollout/{metric}"  # the default metrics, under the run
        (spark,) = re.findall(f"[{SPARK}]{{5,}}", line)
        assert len(set(spark)) >= 3  # a sparkline of the whole run: it learned
    assert f"{TOTAL:,}/{TOTAL:,} steps" in drawn and "bg: finished" in drawn


def test_watch_follows_a_run_through_a_crash_and_its_resume(tmp_path):
    run_dir = tmp_path / "runs" / "cr"
    total = 48 * ROLLOUT
    trainer = start_training(
        tmp_path, "--total-timesteps", str(total), "--checkpoint-freq", "2048", "--run-name", "cr"
    )
    wait_for(lambda: (run_dir / "run.json").exists(), trainer)
    watcher = start_watch(tmp_path, "--interval", "0.5", stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")))
    reader.start()

    wait_for(lambda: checkpoint.list_checkpoints(run_dir / "checkpoints"), trainer)
    wait_for(lambda: any(LINE.match(line) for line in lines), trainer)
    trainer.kill()  # SIGKILL: run.json still says running
    trainer.wait()
    crashed = wait_for(lambda: [line for line in lines if "cr: crashed at" in line], watcher, 30)
    assert "(its process" in crashed[0] and "resume from step" in crashed[0], crashed
    entry = listed(tmp_path, "cr")
    reached = max(json.loads(row)["_step"] for row in (run_dir / "metrics.jsonl").open())
    assert entry["state"] == "crashed" and entry["steps"] == reached > 0

    resumed = run_cli(["--resume", "runs/cr"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: any("cr: finished at" in line for line in lines), watcher, 30)
    watcher.send_signal(signal.SIGINT)  # Ctrl-C
    assert watcher.wait(timeout=30) == 0
    reader.join(timeout=30)
    text = "".join(lines)
    resume = re.search(
        r"cr: a new session is starting \(pid \d+\)\n(?:.*\n)*?.*cr: resumed from step "
        r"([\d,]+) \(session 2\)",
        text,
    )
    assert resume, text
    start = int(resume.group(1).replace(",", ""))
    after_resume = text[resume.end() :]
    steps = [int(m.group(2).replace(",", "")) for m in map(LINE.match, after_resume.splitlines())
             if m]  # fmt: skip
    assert steps and min(steps) >= start and max(steps) > start  # it goes on from there
    assert f"cr: finished at {total:,}/{total:,} steps" in after_resume


def test_watch_errors_are_one_line(tmp_path):
    (tmp_path / "runs").mkdir()
    cases = {
        ("watch",): "rl-train: error: no run is training under runs; name a RUN",
        ("watch", "nope"): "rl-train: error: no run 'nope' under runs",
        ("watch", "--interval", "0"): "rl-train runs watch: error: argument --interval: must be",
        ("watch", "--interval", "0.1"): "rl-train runs watch: error: argument --interval: must be "
        "at least 0.2 s, got 0.1",
        ("watch", "--interval", "nan"): "rl-train runs watch: error: argument --interval: must be "
        "a positive number of seconds, got nan",
    }
    for args, start in cases.items():
        done = run_cli(["runs", *args, "--output-dir", "runs"], cwd=tmp_path, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith(start) and len(done.stderr.strip().splitlines()) == 1


def test_a_metric_no_ended_run_has_is_an_error_naming_the_known_ones(tmp_path, capsys):
    from fake_runs import fake_run

    from rl_train.cli import runs as runs_cli
    from rl_train.errors import UserError

    run_dir = fake_run(tmp_path, "done", steps=(4096,), state="finished")
    (run_dir / "metrics.jsonl").write_text('{"_step": 4096, "rollout/ep_rew_mean": -1.5}\n')
    argv = ["watch", "done", "--metric", "nosuch", "--output-dir", str(tmp_path)]
    with pytest.raises(UserError, match=r"no watched run has metric 'nosuch'; choose --metric "
                       r"from: rollout/ep_rew_mean$"):  # fmt: skip
        runs_cli.main(argv)
    assert runs_cli.main([*argv[:2], "--exit-when-done", *argv[4:]]) == 0  # the defaults
    out = capsys.readouterr().out
    assert "done: finished at 4,096/4,096 steps" in out
