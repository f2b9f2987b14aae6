"""The W&B run holds the checkpoints --wandb-checkpoints asks for, in every W&B folder of
the run; `runs sync` uploads just those; `runs list` counts each file once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import cli_env, run_cli, server_get

from rl_train.store.record import RunRecord

ROLLOUT = 256  # 4 envs x 64 steps


def train(name: str, total: int, *extra: str) -> list[str]:
    return [
        "--use-simple-env",
        "--n-envs",
        "4",
        "--total-timesteps",
        str(total),
        "--checkpoint-freq",
        "1024",
        "--output-dir",
        "runs",
        "--run-name",
        name,
        "--wandb-mode",
        "offline",
        *extra,
    ]


def on_disk(run_dir: Path) -> set[int]:
    return {int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()}


def in_wandb(run_dir: Path) -> dict[str, set[int]]:
    """Per W&B folder of the run: the checkpoint steps in its files/."""
    return {
        folder.name: {
            int(p.name) for p in (folder / "files" / "checkpoints").glob("*") if p.name.isdigit()
        }
        for folder in sorted((run_dir / "wandb").glob("offline-run-*"))
    }


def distinct_file_bytes(root: Path) -> int:
    """What find(1) sees: each regular file's inode once (a hard link is not a second copy)."""
    listed = subprocess.run(
        ["find", str(root), "-type", "f", "-printf", "%D %i %s\n"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return sum(int(line.split()[2]) for line in set(listed))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory) -> tuple[Path, Path]:
    """Killed while writing its third checkpoint, then resumed to the end: two sessions,
    two W&B folders, --keep-checkpoints 2."""
    cwd = tmp_path_factory.mktemp("kept")
    args = train("kept", 24 * ROLLOUT, "--keep-checkpoints", "2")
    first = run_cli(args, cwd, env=cli_env(RL_TRAIN_FAULT="checkpoint-write:3072"))
    assert first.returncode == -signal.SIGKILL, first.stderr
    done = run_cli(["--resume", "runs/kept"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd, cwd / "runs" / "kept"


def test_kept_checkpoints_are_the_only_ones_in_every_wandb_folder(resumed):
    _, run_dir = resumed
    kept = on_disk(run_dir)
    assert kept == {5120, 6144}
    folders = in_wandb(run_dir)
    assert len(folders) == 2
    assert all(steps <= kept for steps in folders.values()), folders
    assert set().union(*folders.values()) == kept


def test_runs_list_counts_hard_linked_files_once(resumed):
    cwd, run_dir = resumed
    done = run_cli(["runs", "list", "--json", "--output-dir", "runs"], cwd=cwd)
    (summary,) = json.loads(done.stdout)
    assert summary["size_bytes"] == distinct_file_bytes(run_dir)
    links = [p for p in run_dir.rglob("model.zip") if os.stat(p).st_nlink > 1]
    assert links, "the W&B copies are hard links of the checkpoints"


@pytest.mark.online
def test_sync_uploads_just_the_kept_checkpoints(resumed, wandb_server):
    cwd, run_dir = resumed
    done = run_cli(["runs", "sync", "kept", "--output-dir", "runs"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    run_id = RunRecord.load(run_dir).run_id
    files = server_get(wandb_server, f"/api/v1/runs/{run_id}/files")["files"]
    uploaded = {f["name"].split("/")[1] for f in files if f["name"].startswith("checkpoints/")}
    assert uploaded == {"5120", "6144", "best"}  # the kept ones, and the best policy


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("all", {1024, 2048, 3072}), ("kept", {3072}), ("final", {3072}), ("none", set())],
)
def test_each_policy_keeps_what_it_says(tmp_path, policy, expected):
    args = train("p", 12 * ROLLOUT, "--keep-checkpoints", "1", "--wandb-checkpoints", policy)
    done = run_cli(args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "runs" / "p"
    assert on_disk(run_dir) == {3072}
    (steps,) = in_wandb(run_dir).values()
    assert steps == expected
