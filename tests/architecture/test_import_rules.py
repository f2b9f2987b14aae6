"""The import rules of docs/architecture.md, checked on the real modules.

Code that runs before torch is imported (the CLI's start, config, the session and W&B
client, the run store), the env workers, and the W&B logging process until its run starts
must not load torch, SB3, wandb, pybullet or Ray: start-up overlaps only while they stay light,
and a worker that imported torch would cost seconds and hundreds of MB.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import REPO, cli_env

FORBIDDEN = ("torch", "stable_baselines3", "wandb", "pybullet", "ray")
LIGHT_MODULES = [
    # the command line and what it resolves before the trainer is imported
    "rl_train.cli.main",
    "rl_train.cli.train",
    "rl_train.cli.runs",
    "rl_train.cli.eval",
    "rl_train.cli.sweep",
    "rl_train.cli.watch",
    "rl_train.cli.export",
    "rl_train.cli.config",
    "rl_train.config.user_config",
    "rl_train.sweep.spec",
    "rl_train.sweep.report",
    "rl_train.training.entry",
    "rl_train.evaluation.stats",
    "rl_train.evaluation.result",
    # `rl-train eval --policy FILE.onnx` acts with ONNX Runtime alone
    "rl_train.export.playback",
    "rl_train.export.files",
    "rl_train.evaluation.video",
    "rl_train.evaluation.renderer",
    "rl_train.evaluation.render_process",
    "rl_train.vec.recorder",
    "rl_train.vec.forkserver",
    "rl_train.config.train_config",
    "rl_train.config.hyperparams",
    "rl_train.config.resolve",
    "rl_train.config.resume",
    "rl_train.vec.env_ids",
    # the session, the W&B client and the logging process (wandb only once a run starts)
    "rl_train.tracking.session",
    "rl_train.tracking.client",
    "rl_train.tracking.server",
    "rl_train.tracking.process",
    # what env workers import
    "rl_train.vec.env_factory",
    "rl_train.vec.replay",
    "rl_train.vec.shm_worker",
    "rl_train.vec.failures",
    "envs",
    "envs.simple",
    # the run store, which `rl-train runs` reads
    "rl_train.store.query",
    "rl_train.store.summary",
    "rl_train.store.progress",
    "rl_train.store.live",
    "rl_train.store.history",
    "rl_train.store.sync",
    "rl_train.store.clean",
    "rl_train.store.wandb_txlog",
    "rl_train.store.upload",
    "rl_train.store.checkpoint",
    "rl_train.store.journal",
    "rl_train.store.record",
    "rl_train.store.snapshot",
    "rl_train.store.plotting",
    "rl_train.store.pack",
    "rl_train.store.verify",
    "rl_train.store.curves",
    "rl_train.store.yaml_file",
]
PACKAGES = ("rl_train", "envs")


def loaded_roots(module: str) -> set[str]:
    """Top-level packages loaded by importing `module` in a fresh interpreter."""
    probe = (
        f"import sys, {module}; "
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_module_loads_no_heavy_library(module):
    heavy = loaded_roots(module) & set(FORBIDDEN)
    assert not heavy, f"importing {module} loads {sorted(heavy)}"


def test_every_subpackage_init_is_light():
    # Workers and the logging process import parts of rl_train: a subpackage's
    # __init__ runs first, so it must pull in nothing heavy either.
    inits = sorted((REPO / "rl_train").glob("*/__init__.py"))
    assert len(inits) >= 6
    for init in inits:
        module = f"rl_train.{init.parent.name}"
        heavy = loaded_roots(module) & set(FORBIDDEN)
        assert not heavy, f"importing {module} loads {sorted(heavy)}"


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path) -> set[str]:
    """Modules of our packages that `path` imports anywhere (lazy imports included)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else None
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*(package or "").split(".")[: 1 - node.level or None], base])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def test_no_import_cycles():
    sources = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    modules = {module_name(p): p for p in sources}
    graph = {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*trail, start]
                if nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
        return None

    for name in sorted(graph):
        cycle = cycle_from(name)
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_rl_train_top_level_is_a_handful_of_modules():
    top = sorted(p.name for p in (REPO / "rl_train").glob("*.py"))
    assert len(top) <= 5, top


# Which subpackages of rl_train each one may import (the top-level modules errors, machine
# and units are for everyone): the data flow of docs/architecture.md, lowest layer first.
ALLOWED = {
    "store": set(),
    "config": {"store"},
    "tracking": {"config", "store"},
    "vec": {"config"},
    "evaluation": {"config", "store", "vec"},
    "training": {"config", "store", "tracking", "vec", "evaluation"},
    "sweep": {"config", "store", "training", "evaluation"},
    "export": {"config", "store", "vec", "evaluation", "training"},
    "cli": {"config", "store", "tracking", "vec", "training", "evaluation", "sweep", "export"},
}


def test_subpackages_import_only_lower_layers():
    for layer, allowed in ALLOWED.items():
        for path in sorted((REPO / "rl_train" / layer).rglob("*.py")):
            used = {
                name.split(".")[1]
                for name in imports_of(path)
                if name.startswith("rl_train.") and name.split(".")[1] in ALLOWED
            }
            wrong = used - allowed - {layer}
            assert not wrong, f"{path.relative_to(REPO)} imports rl_train.{sorted(wrong)}"


def all_imports(path) -> set[str]:
    """Every module name `path` imports anywhere (lazy imports included), absolute only."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def test_config_never_imports_the_envs_sb3_or_torch_but_to_check_a_gpu():
    # config/ resolves flags before the trainer's imports and W&B's start overlap: the env
    # registry is vec/env_ids.py's, PPO's arguments are written out (hyperparams.py).
    for path in sorted((REPO / "rl_train" / "config").rglob("*.py")):
        roots = {name.split(".")[0] for name in all_imports(path)}
        assert not roots & {"envs", "stable_baselines3", "gymnasium", "pybullet", "wandb"}, path
        if "torch" in roots:  # only `--device cuda`'s check that a GPU is there
            assert path.name == "resolve.py" and path.read_text().count("import torch") == 1


RESOLVE_PROBE = """
import sys
from rl_train.cli.train import config_from_args
from rl_train.training.entry import resolve_config
config, explicit, _ = config_from_args(sys.argv[1:])
resolve_config(config, "n_envs" in explicit)
assert config.hyperparams["learning_rate"] == 0.0005, config.hyperparams
assert config.hyperparams["batch_size"] == 128, config.hyperparams
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"torch", "stable_baselines3"})
print(" ".join(heavy) or "light")
"""


def test_resolving_a_config_file_and_hyperparameters_leaves_torch_unimported(tmp_path):
    (tmp_path / "hp.yml").write_text("learning_rate: 0.0005\nn_epochs: 5\n")
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE_PROBE, "--config", str(tmp_path / "hp.yml"),
         "--hyperparams", "batch_size=128", "--env", "push"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["light"]


# benchmarks/: scripts, their own report modules, and benchlib, which they share. rl_train and
# envs never import any of it; benchlib imports no script; nothing there loads torch at import.
BENCHMARKS = REPO / "benchmarks"


def _benchmark_modules() -> set[str]:
    return {p.stem for p in BENCHMARKS.glob("*.py")} | {"benchlib"}


def test_the_package_never_imports_the_benchmarks():
    ours = _benchmark_modules()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            roots = {name.split(".")[0] for name in all_imports(path)}
            assert not roots & ours, f"{path.relative_to(REPO)} imports {sorted(roots & ours)}"


def test_benchlib_imports_no_benchmark_script():
    scripts = _benchmark_modules() - {"benchlib"}
    paths = sorted((BENCHMARKS / "benchlib").glob("*.py"))
    assert len(paths) >= 7
    for path in paths:
        roots = {name.split(".")[0] for name in all_imports(path)}
        assert not roots & scripts, f"{path.relative_to(REPO)} imports {sorted(roots & scripts)}"


def test_a_benchmark_imports_no_other_benchmark():
    # A script's own modules carry its name and "_" (logging_modes_report.py); what two
    # scripts share goes to benchlib.
    stems = {p.stem for p in BENCHMARKS.glob("*.py")}
    scripts = {p.stem for p in BENCHMARKS.glob("*.py") if "__main__" in p.read_text()}

    def owner(stem: str) -> str:
        return next((s for s in scripts if stem == s or stem.startswith(s + "_")), stem)

    for path in sorted(BENCHMARKS.glob("*.py")):
        local = {name.split(".")[0] for name in all_imports(path)} & stems
        foreign = sorted(name for name in local if owner(name) != owner(path.stem))
        assert not foreign, f"{path.relative_to(REPO)} imports other benchmarks {foreign}"


@pytest.mark.parametrize(
    "module", sorted(f"benchlib.{p.stem}" for p in (BENCHMARKS / "benchlib").glob("[!_]*.py"))
)
def test_benchlib_loads_no_heavy_library(module):
    probe = (
        f"import sys, {module}; print(' '.join(sorted({{n.split('.')[0] for n in sys.modules}})))"
    )
    env = cli_env(PYTHONPATH=f"{REPO}:{BENCHMARKS}")
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not set(done.stdout.split()) & set(FORBIDDEN)
