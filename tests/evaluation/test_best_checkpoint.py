"""checkpoints/best: the best evaluation's policy, never pruned, remembered on resume, and
for evaluation only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from rl_train.store import checkpoint

TRAIN = [
    "--use-simple-env", "--n-envs", "4", "--total-timesteps", "4096", "--eval-freq", "512",
    "--checkpoint-freq", "512", "--keep-checkpoints", "1", "--wandb-mode", "disabled",
    "--run-name", "b", "--output-dir", "runs",
]  # fmt: skip


def eval_rows(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if "eval/success_rate" in row]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("best")
    done = run_cli(TRAIN, cwd=cwd)
    assert done.returncode == 0, done.stderr
    # The summary names it, and how to evaluate it.
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("  best:")]
    assert "runs/b/checkpoints/best (step" in line and "rl-train eval b)" in line
    return cwd


def test_best_is_the_top_evaluation_and_outlives_pruning(trained):
    run_dir = trained / "runs" / "b"
    rows = eval_rows(run_dir)
    assert [row["_step"] for row in rows] == list(range(512, 4097, 512))  # 7 + the final
    meta = json.loads((run_dir / "checkpoints" / "best" / "meta.json").read_text())
    top = max(rows, key=lambda row: (row["eval/success_rate"], row["eval/mean_reward"]))
    assert meta["score"] == [top["eval/success_rate"], top["eval/mean_reward"]]
    assert meta["step"] == top["_step"]
    numbered = {p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()}
    assert numbered == {"4096"}  # --keep-checkpoints 1 pruned the others, not best
    assert (run_dir / "checkpoints" / "best" / "model.zip").exists()


def test_a_resumed_run_knows_its_best_score(trained):
    """From the checkpoint it resumes from: the best score as of that step."""
    run_dir = trained / "runs" / "b"
    newest = checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]
    meta = json.loads((newest / "meta.json").read_text())
    meta["best_score"] = [2.0, 0.0]  # no evaluation can beat it: a 200% success rate
    (newest / "meta.json").write_text(json.dumps(meta))
    # The best as the checkpoint knew it (the final evaluation, after the checkpoint was
    # written, may have chosen a newer one; the resume sets that aside).
    named = meta[checkpoint.BEST_STEP_KEY]
    chosen = next(row for row in eval_rows(run_dir) if row["_step"] == named)
    done = run_cli(["--resume", "runs/b", "--total-timesteps", "6144"], cwd=trained)
    assert done.returncode == 0, done.stderr
    assert [row["_step"] for row in eval_rows(run_dir)][-4:] == [4608, 5120, 5632, 6144]
    best = json.loads((run_dir / "checkpoints" / "best" / "meta.json").read_text())
    # The evaluations after the resume did not win: the best is still the one it named.
    assert best["step"] == named
    assert best["score"] == [chosen["eval/success_rate"], chosen["eval/mean_reward"]]


def test_the_best_checkpoint_is_not_for_resuming(trained):
    done = run_cli(["--resume", "runs/b/checkpoints/best"], cwd=trained)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "the best checkpoint is for evaluation (rl-train eval)" in line
