"""When `rl-train` exits, nothing it started is still running: env workers, the forkserver
and its resource tracker, the evaluation envs, the video render process, the W&B logging
process and wandb-core. A job scheduler or a `timeout` wrapper watches the process group;
the command runs in a group of its own here and the group must be empty the moment it ends,
and so must the set of processes that inherited its environment (the logging process has a
group of its own, so that a Ctrl-C to the trainer's group does not cut the run's last rows)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from conftest import REPO, cli_env, start_cli

TOKEN = "RL_TRAIN_TEST_PROCESS_TOKEN"


def group_members(pgid: int, token: str = "") -> list[str]:
    """Every process still there (zombies included: not yet reaped is not gone) of the
    group, or whose environment holds TOKEN=token, as 'pid state command'."""
    found = []
    marker = f"{TOKEN}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")[:120]
            with open(f"/proc/{entry}/environ", "rb") as f:
                inherited = bool(token) and marker in f.read().split(b"\0")
        except OSError:
            continue  # ended while we looked (or not ours to read)
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid or inherited:
            found.append(f"{entry} {state} {command}")
    return found


def run_in_own_group(args: list[str], cwd, env) -> tuple[int, list[str], str]:
    token = uuid.uuid4().hex
    process = start_cli(  # in its own process group, whose id is its pid
        args, cwd, env={**env, TOKEN: token}, own_group=True, stdout=subprocess.DEVNULL
    )
    _, err = process.communicate(timeout=300)
    return process.returncode, group_members(process.pid, token), err


TRAIN = ["--total-timesteps", "1024", "--n-envs", "2", "--eval-freq", "512", "--eval-video",
         "--output-dir", "runs"]  # fmt: skip


@pytest.mark.parametrize("mode", ["disabled", "offline"])
def test_nothing_outlives_a_run(tmp_path, mode):
    code, left, err = run_in_own_group([*TRAIN, "--wandb-mode", mode], tmp_path, cli_env())
    assert code == 0, err
    assert left == [], left
    # and the commands that start workers of their own
    code, left, err = run_in_own_group(
        ["eval", "--output-dir", "runs", "--episodes", "4", "--video", "v.mp4",
         os.listdir(tmp_path / "runs")[0]],
        tmp_path,
        cli_env(),
    )  # fmt: skip
    assert code == 0, err
    assert left == [], left


@pytest.mark.online
def test_nothing_outlives_an_online_run(tmp_path, own_server):
    code, left, err = run_in_own_group(
        [*TRAIN, "--wandb-mode", "online"], tmp_path, own_server.env()
    )
    assert code == 0, err
    assert left == [], left


def test_the_test_sees_a_process_left_behind(tmp_path):
    """The check itself: a child left in the group is caught, and so is one that moved to
    a session of its own (by the environment it inherited)."""
    token = uuid.uuid4().hex
    for detached in (False, True):
        child = f"import time; time.sleep(5)  # {detached}"
        script = (
            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            f"{child!r}], start_new_session={detached})"
        )
        process = subprocess.Popen(
            [sys.executable, "-c", script],
            start_new_session=True,
            cwd=REPO,
            env={**os.environ, TOKEN: token},
        )
        process.wait(timeout=60)
        assert any(child in member for member in group_members(process.pid, token))
