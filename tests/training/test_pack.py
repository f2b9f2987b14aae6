"""`rl-train runs pack` and `runs unpack`: a run moved as one file to another machine (here,
another folder, the original deleted) unpacks checked, evaluates, exports, resumes to the
very end the run never moved would have reached, and syncs; a damaged archive or a run in
use is refused in one line with nothing left behind."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from conftest import one_error_line, run_cli, server_get
from test_exact_resume import JOB, SMALL_PPO, assert_same_run, run_args, train
from test_resume import history_steps

KINEMATIC = [*JOB, "--use-simple-env", "--vec-env", "native"]


def runs(cwd: Path, *args: str):
    return run_cli(["runs", *args], cwd=cwd)


@pytest.fixture(scope="module")
def moved(tmp_path_factory) -> tuple[Path, Path]:
    """(the run never stopped, the run stopped by Ctrl-C, packed, deleted where it ran,
    unpacked in another folder and resumed there)."""
    straight = tmp_path_factory.mktemp("straight")
    (straight / "ppo.yml").write_text(SMALL_PPO)
    assert train(straight, run_args("job", *KINEMATIC)).returncode == 0
    here, there = tmp_path_factory.mktemp("here"), tmp_path_factory.mktemp("there")
    (here / "ppo.yml").write_text(SMALL_PPO)
    stopped = train(here, run_args("job", *KINEMATIC), fault="rollout:1700:INT")
    assert stopped.returncode == 130, stopped.stderr
    packed = runs(here, "pack", "job", "-o", str(there / "job.tar.gz"))
    assert packed.returncode == 0, packed.stderr
    assert packed.stdout.startswith("packed job (") and "-> " in packed.stdout
    shutil.rmtree(here)  # the other machine has only the file
    unpacked = runs(there, "unpack", "job.tar.gz")
    assert unpacked.returncode == 0, unpacked.stderr
    assert "every file matches its checksum" in unpacked.stdout
    return straight / "runs" / "job", there / "runs" / "job"


def test_an_unpacked_run_evaluates_exports_and_resumes_to_the_end_of_the_unmoved_one(moved):
    straight, run_dir = moved
    there = run_dir.parent.parent
    evaluated = run_cli(["eval", "job", "--episodes", "4", "--json", "--output-dir", "runs"],
                        cwd=there)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    exported = run_cli(["export", "job", "-o", "job.onnx", "--output-dir", "runs"], cwd=there)
    assert exported.returncode == 0, exported.stderr
    (there / "ppo.yml").write_text(SMALL_PPO)  # the --config file, as the user brings it
    done = train(there, ["--resume", "runs/job"])
    assert done.returncode == 0, done.stderr
    assert_same_run(straight, run_dir)
    assert history_steps(run_dir) == history_steps(straight)


@pytest.mark.online
def test_an_unpacked_and_resumed_run_syncs_every_row(moved, wandb_server):
    _, run_dir = moved
    there = run_dir.parent.parent
    if json.loads((run_dir / "run.json").read_text())["state"] != "finished":
        (there / "ppo.yml").write_text(SMALL_PPO)
        assert train(there, ["--resume", "runs/job"]).returncode == 0
    synced = runs(there, "sync", "job")
    assert synced.returncode == 0, synced.stderr
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    rows = server_get(wandb_server, f"/api/v2/runs/{run_id}/metrics?key=global_step")
    assert sorted(row["step"] for row in rows["metrics"]) == history_steps(run_dir)


def test_a_damaged_or_foreign_archive_unpacks_nothing(moved, tmp_path):
    _, run_dir = moved
    archive = run_dir.parent.parent / "job.tar.gz"
    data = archive.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    assert "is damaged or incomplete" in one_error_line(runs(tmp_path, "unpack", "cut.tar.gz"))
    with tarfile.open(archive) as source, tarfile.open(tmp_path / "flip.tar.gz", "w:gz") as out:
        for member in source.getmembers():
            content = source.extractfile(member).read() if member.isfile() else None
            if member.isfile() and member.name.endswith("model.zip"):
                content = content[:100] + bytes([content[100] ^ 1]) + content[101:]
            out.addfile(member, io.BytesIO(content) if content is not None else None)
    line = one_error_line(runs(tmp_path, "unpack", "flip.tar.gz"))
    assert "model.zip does not match its checksum" in line
    with tarfile.open(tmp_path / "foreign.tar.gz", "w:gz") as out:
        out.add(run_dir / "config.yaml", arcname="job/config.yaml")
    line = one_error_line(runs(tmp_path, "unpack", "foreign.tar.gz"))
    assert "is not a packed run" in line
    with tarfile.open(tmp_path / "escape.tar.gz", "w:gz") as out:
        out.add(run_dir / "config.yaml", arcname="job/../../outside.yaml")
    assert "no plain file of a run" in one_error_line(runs(tmp_path, "unpack", "escape.tar.gz"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert not (tmp_path.parent / "outside.yaml").exists()
    # the intact archive, again where its run already is: refused, the run untouched
    line = one_error_line(runs(run_dir.parent.parent, "unpack", "job.tar.gz"))
    assert "runs/job already exists" in line


def test_pack_refuses_a_run_another_process_holds(moved, tmp_path):
    _, run_dir = moved
    from rl_train.store.lock import RunLock

    with RunLock.acquire(run_dir, "training", "wait"):
        done = run_cli(["runs", "pack", str(run_dir), "-o", str(tmp_path / "held.tar.gz")],
                       cwd=tmp_path)  # fmt: skip
    line = one_error_line(done)
    assert "run job is in use by pid" in line and "pack it when it ends" in line
    assert list(tmp_path.iterdir()) == []
