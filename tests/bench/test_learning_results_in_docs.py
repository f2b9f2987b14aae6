"""The learning results the README and docs/training.md print are the ones
benchmarks/learning.py wrote in benchmarks/results/: per seed, final policy, and pooled. A
number edited by hand, or a report re-run without its docs, fails here."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO

RESULTS = REPO / "benchmarks" / "results"


def percent(rate: float) -> str:
    return "100%" if rate == 1.0 else f"{100 * rate:.1f}%"


def report(name: str) -> dict:
    return json.loads((RESULTS / f"learning.{name}.json").read_text())


def per_seed(name: str) -> str:
    seeds = sorted(report(name)["seeds"], key=lambda s: s["seed"])
    assert [s["seed"] for s in seeds] == [0, 1, 2], f"{name}: three seeds, nothing fewer"
    return " / ".join(percent(s["latest"]["success_rate"]) for s in seeds)


def table_rows(markdown: str) -> list[list[str]]:
    """Each table row's cells, intervals "(..)" and bold marks taken out."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [re.sub(r"\s*\([^)]*\)", "", c).replace("**", "").strip()
                     for c in line.strip().strip("|").split("|")]  # fmt: skip
            rows.append(cells)
    return rows


def row(rows: list[list[str]], first_cell: str) -> list[str]:
    found = [r for r in rows if r[0] == first_cell]
    assert len(found) == 1, f"one row {first_cell!r}"
    return found[0]


@pytest.mark.parametrize(
    "task, report_name",
    [("reach", "reach"), ("push", "push"), ("pick-and-place", "pick_and_place")],
)
def test_the_readme_prints_the_three_seeds_of_each_shipped_task(task, report_name):
    rows = table_rows((REPO / "README.md").read_text())
    assert row(rows, task)[2] == per_seed(report_name)


@pytest.mark.parametrize(
    "row_start, report_name",
    [
        ("reach (49,152 steps)", "reach"),
        ("push (4M steps", "push"),
        ("push (3M steps", "push-3M"),
        ("pick-and-place (10M steps)", "pick_and_place"),
    ],
)
def test_training_md_prints_each_seed_and_the_pooled_rate(row_start, report_name):
    markdown = (REPO / "docs" / "training.md").read_text()
    section = markdown.split("## How well and how fast it learns", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith(f"| {row_start}")]
    assert len(lines) == 1, f"one row {row_start!r}"
    pooled = percent(report(report_name)["pooled"]["latest"]["success_rate"])
    assert table_rows(lines[0])[0][1:3] == [per_seed(report_name), pooled]
