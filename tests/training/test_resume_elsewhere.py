"""A resume where the numbers may come out otherwise says so, through the real CLI: on another
CPU, with other vector extensions or MKL settings (MKL and torch pick their float kernels by
these), or with other library versions. A run packed on one machine and resumed on another
(`rl-train runs pack|unpack`) is the case users meet; `rl-train runs show` names the machine
of each session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import cli_env, run_cli
from test_exact_resume import JOB, SMALL_PPO, assert_same_run, final_checkpoint, run_args, train

from rl_train.machine import describe, float_kernels
from rl_train.store.record import library_versions

KINEMATIC = [*JOB, "--use-simple-env", "--vec-env", "native"]
STOPPED_AT = 2304  # SIGTERM at step 2,200 stops at the next rollout start


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A finished run and the same run stopped with SIGTERM, not yet resumed."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    (cwd / "ppo.yml").write_text(SMALL_PPO)
    straight = train(cwd, run_args("straight", *KINEMATIC))
    assert straight.returncode == 0, straight.stderr
    stopped = train(cwd, run_args("stopped", *KINEMATIC), fault="rollout:2200:TERM")
    assert stopped.returncode == 143, stopped.stderr
    return cwd


@pytest.fixture
def stopped(tmp_path, made) -> Path:
    shutil.copytree(made, tmp_path, dirs_exist_ok=True)
    return tmp_path / "runs" / "stopped"


def edit_meta(run_dir: Path, **changes: dict) -> None:
    """The newest checkpoint as another machine or other libraries would have written it."""
    path = final_checkpoint(run_dir) / "meta.json"
    meta = json.loads(path.read_text())
    for key, values in changes.items():
        meta[key].update(values)
    path.write_text(json.dumps(meta))


def test_a_resume_on_the_same_machine_is_exact_and_names_the_machine(tmp_path, stopped):
    meta = json.loads((final_checkpoint(stopped) / "meta.json").read_text())
    assert meta["machine"] == float_kernels() and meta["versions"] == library_versions()
    done = train(tmp_path, ["--resume", str(stopped)])
    assert done.returncode == 0, done.stderr
    assert f"from step {STOPPED_AT:,}" in done.stdout and ", exactly" in done.stdout
    assert_same_run(tmp_path / "runs" / "straight", stopped)
    shown = run_cli(["runs", "show", "stopped", "--output-dir", "runs"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "sessions:     2 (the latest resumed exactly)" in shown.stdout
    assert f"session 1 from step 0: {describe()}" in shown.stdout
    assert f"session 2 from step {STOPPED_AT:,}: {describe()}" in shown.stdout


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        pytest.param(
            {"machine": {"cpu": "AMD EPYC 7B13"}},
            "where the checkpoint was written with CPU AMD EPYC 7B13",
            id="another-cpu",
        ),
        pytest.param(
            {"machine": {"vector_extensions": ["sse4_2", "avx", "avx2", "fma"]}},
            "where the checkpoint was written with vector extensions sse4_2 avx avx2 fma",
            id="other-vector-extensions",
        ),
        pytest.param(
            {"versions": {"torch": "2.0.0"}},
            "where the checkpoint was written with 2.0.0 (another version",
            id="another-torch",
        ),
    ],
)
def test_a_checkpoint_written_elsewhere_resumes_not_exactly_and_says_why(
    tmp_path, stopped, changes, said
):
    edit_meta(stopped, **changes)
    done = train(tmp_path, ["--resume", str(stopped)])
    assert done.returncode == 0, done.stderr
    (first,) = [line for line in done.stdout.splitlines() if line.startswith("resuming")]
    assert ", not exactly: " in first and said in first, first
    record = json.loads((stopped / "run.json").read_text())
    assert record["resumed_exactly"] is False and said in record["resume_not_exact_because"]
    shown = run_cli(["runs", "show", "stopped", "--output-dir", "runs"], cwd=tmp_path)
    assert "(the latest resumed not exactly: " in shown.stdout


@pytest.mark.skipif(
    "avx2" not in float_kernels()["vector_extensions"],
    reason="needs an x86 CPU with AVX2, where MKL limited to SSE4.2 picks other kernels",
)
def test_other_float_kernels_are_named_and_do_change_the_run(tmp_path, stopped):
    """The reason is real: MKL held to SSE4.2 ends the run with other parameters."""
    done = run_cli(
        ["--resume", str(stopped)], cwd=tmp_path, env=cli_env(MKL_ENABLE_INSTRUCTIONS="SSE4_2")
    )
    assert done.returncode == 0, done.stderr
    assert (
        "not exactly: MKL_ENABLE_INSTRUCTIONS=SSE4_2 where the checkpoint was written with "
        "MKL_ENABLE_INSTRUCTIONS unset" in done.stdout
    )
    with pytest.raises(AssertionError, match="differs"):
        assert_same_run(tmp_path / "runs" / "straight", stopped)
