"""rl-train against rl-baselines3-zoo, command for command: the same PPO settings on
panda-gym's PandaReachDense-v3, 16 envs, W&B offline, each tool as a user types it.

- rl-train: `rl-train --env panda_gym:PandaReachDense-v3 --n-envs 16 --wandb-mode offline`
  (its defaults otherwise: the shared-memory workers, checkpoints every 10k steps, its
  evaluations during training and the final 50-episode test evaluation);
- rl-zoo DummyVecEnv (its default) and rl-zoo SubprocVecEnv:
  `python -m rl_zoo3.train --algo ppo --env PandaReachDense-v3 --gym-packages panda_gym
  -conf CONF --vec-env dummy|subproc --track` with WANDB_MODE=offline (its defaults
  otherwise: an evaluation every 25k steps, the final model saved).

CONF holds the PPO settings rl-train resolves for that env id (the table and n_timesteps
ppo.yml gives a foreign env), so both train the same PPO for the same steps. rl-zoo runs in a
virtualenv of its own (--zoo-venv; made on the first run: rl-zoo3, panda-gym, and the torch,
SB3 and wandb versions this project's .venv has), as the W&B server does in CI.

The three interleaved, the order rotated each repeat; each run's whole-process wall time,
and each rl-zoo run's over the rl-train run of the same moment (benchlib.stats.paired_ratio).
Targets (#39): rl-zoo DummyVecEnv >= 1.8x rl-train's wall, SubprocVecEnv >= 2.5x.

    .venv/bin/python benchmarks/rlzoo_compare.py                # 3 repeats
    .venv/bin/python benchmarks/rlzoo_compare.py --repeats 1 --timesteps 20480   # a try

Writes benchmarks/results/rlzoo_compare.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import machine, stats
from benchlib.command import RESULTS, child_env, rl_train_command
from benchlib.results import header, write_report

ENV_ID = "PandaReachDense-v3"
OUR_ENV = f"panda_gym:{ENV_ID}"
N_ENVS = 16
TOOLS = ("rl-train", "zoo-dummy", "zoo-subproc")
# rl-train as it was before #39 (SB3's update on one thread): asked for by name only.
BEFORE_39 = "rl-train-sb3"
TARGETS = {"zoo-dummy": 1.8, "zoo-subproc": 2.5}  # rl-zoo's wall over rl-train's, at least
ZOO = "rl-zoo3==2.9.2"
PANDA_GYM = "panda-gym==3.0.7"


def ppo_settings() -> dict:
    """The PPO table rl-train resolves for the env id, with the steps of a run."""
    from rl_train.config import hyperparams

    return hyperparams.shipped(OUR_ENV)


def zoo_conf(table: dict, timesteps: int) -> dict:
    """rl-zoo's hyperparameter file for ENV_ID: the same PPO (rl-zoo spells policy_kwargs
    and normalize as Python source, and wants the Dict observation's policy named)."""
    entry = {key: value for key, value in table.items() if key not in ("normalize", "policy")}
    entry["policy"] = "MultiInputPolicy"  # rl-train picks it for the Dict observation too
    entry["n_envs"] = N_ENVS
    entry["n_timesteps"] = timesteps
    if "policy_kwargs" in entry:
        entry["policy_kwargs"] = f"dict(**{entry['policy_kwargs']!r})"
    normalize = table.get("normalize")
    if normalize:
        entry["normalize"] = repr(dict(normalize)) if isinstance(normalize, dict) else True
    return {ENV_ID: entry}


def installed_version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def zoo_python(venv: Path) -> Path:
    """The rl-zoo virtualenv's python, made on first use with this project's versions of
    torch, SB3 and wandb (the comparison is of the tools, not of the libraries)."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    print(f"making rl-zoo's virtualenv in {venv} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    torch_version = installed_version("torch").split("+")[0]
    sb3, wandb = installed_version("stable-baselines3"), installed_version("wandb")
    pins = [f"torch=={torch_version}", f"stable-baselines3=={sb3}", f"wandb=={wandb}", ZOO,
            PANDA_GYM, "tensorboard"]  # fmt: skip
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, pins[0]], check=True)  # the CPU build first, as the Makefile does
    subprocess.run([*pip, *pins], check=True)
    return python


def command(tool: str, workdir: Path, timesteps: int, zoo: Path) -> list[str]:
    if tool in ("rl-train", BEFORE_39):
        before = ["--learner", "sb3", "--update-threads", "1"] if tool == BEFORE_39 else []
        return rl_train_command(
            "--env", OUR_ENV, "--n-envs", str(N_ENVS), "--total-timesteps", str(timesteps),
            "--wandb-mode", "offline", "--output-dir", str(workdir / "runs"), "--run-name", "r",
            *before,
        )  # fmt: skip
    return [
        str(zoo), "-m", "rl_zoo3.train", "--algo", "ppo", "--env", ENV_ID,
        "--gym-packages", "panda_gym", "-conf", str(workdir / "zoo.yml"),
        "--vec-env", tool.removeprefix("zoo-"), "--track", "--wandb-project-name", "rl-zoo",
        "--log-folder", str(workdir / "logs"), "--seed", "0",
    ]  # fmt: skip


def finished(tool: str, workdir: Path) -> bool:
    """The run left what its tool promises: rl-train a finished run, rl-zoo its model."""
    if tool in ("rl-train", BEFORE_39):
        record = workdir / "runs" / "r" / "run.json"
        return record.exists() and json.loads(record.read_text()).get("state") == "finished"
    return any((workdir / "logs").rglob(f"{ENV_ID}.zip"))


def one_run(tool: str, timesteps: int, zoo: Path, conf: dict, order: int, rep: int) -> dict:
    env = child_env()
    env["WANDB_MODE"] = "offline"
    with tempfile.TemporaryDirectory(prefix="rl-train-vs-zoo-") as tmp:
        workdir = Path(tmp)
        (workdir / "zoo.yml").write_text(json.dumps(conf))  # JSON is YAML
        env["WANDB_DIR"] = str(workdir)
        started = time.perf_counter()
        done = subprocess.run(
            command(tool, workdir, timesteps, zoo), cwd=workdir, env=env,
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0 or not finished(tool, workdir):
            raise SystemExit(f"{tool} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"tool": tool, "wall_s": wall, "order": order, "rep": rep}


def summarize(runs: list[dict]) -> dict:
    ours = [r for r in runs if r["tool"] == "rl-train"]
    out = {}
    for tool in [t for t in (*TOOLS, BEFORE_39) if any(r["tool"] == t for r in runs)]:
        mine = [r for r in runs if r["tool"] == tool]
        out[tool] = {"wall_s": stats.spread([r["wall_s"] for r in mine])}
        if tool in TARGETS or tool == BEFORE_39:
            ratio = stats.paired_ratio(mine, ours, "wall_s")
            out[tool]["over_rl_train"] = ratio
            if ratio is not None and tool in TARGETS:
                # judge() bounds a cost from above: a speed-up's floor is the inverse's ceiling
                median, _, _, _, interval = ratio
                inverse = (1 / interval[1], 1 / interval[0]) if interval else None
                out[tool]["verdict"] = stats.judge(1 / median, inverse, 1 / TARGETS[tool])
    return out


def report(document: dict) -> str:
    summary = document["summary"]
    lines = [
        "# rl-train against rl-baselines3-zoo",
        "",
        f"`{document['command']}` on {document['machine']}, {document['date']}; load "
        f"{document['load_start']} at start, {document['load_end']} at end. {ENV_ID}, "
        f"{N_ENVS} envs, {document['timesteps']:,} steps, W&B offline, the PPO settings in "
        f"the JSON's `ppo`; rl-zoo {document['zoo_version']}. Whole-process wall time, "
        f"{document['repeats']} interleaved repeats (median, min-max); the ratio is each "
        "run's wall over the rl-train run of the same moment.",
        "",
        "| tool | wall s | its wall / rl-train's | target | verdict |",
        "|---|---:|---:|---:|---|",
    ]
    for tool, row in summary.items():
        median, low, high, _, _ = row["wall_s"]
        ratio, target, verdict = "", "", ""
        if row.get("over_rl_train"):
            r_median, r_low, r_high, _, interval = row["over_rl_train"]
            ratio = f"{r_median:.2f}x ({r_low:.2f}-{r_high:.2f})"
            if tool in TARGETS:
                target, verdict = f">= {TARGETS[tool]}x", row.get("verdict", "")
            if tool in TARGETS and interval is None:
                verdict += " (under 6 repeats: no interval)"
        lines.append(f"| {tool} | {median:.1f} ({low:.1f}-{high:.1f}) | {ratio} | {target} "
                     f"| {verdict} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=None,
                        help="default: the n_timesteps rl-train ships for the env")  # fmt: skip
    parser.add_argument(
        "--tools", nargs="+", choices=[*TOOLS, BEFORE_39], default=list(TOOLS),
        help=f"{BEFORE_39}: rl-train with SB3's update on one thread, as before #39",
    )  # fmt: skip
    parser.add_argument(
        "--zoo-venv", type=Path, default=Path(tempfile.gettempdir()) / "rl-train-rlzoo-venv"
    )
    parser.add_argument("--output-prefix", type=Path, default=RESULTS / "rlzoo_compare")
    args = parser.parse_args(argv)
    table = ppo_settings()
    timesteps = args.timesteps or int(table["n_timesteps"])
    zoo = zoo_python(args.zoo_venv) if any(t != "rl-train" for t in args.tools) else Path()
    conf = zoo_conf(table, timesteps)
    load_start = machine.load_average()
    runs = []
    for rep in range(args.repeats):
        shift = rep % len(args.tools)
        for tool in args.tools[shift:] + args.tools[:shift]:
            runs.append(one_run(tool, timesteps, zoo, conf, len(runs), rep))
            print(f"repeat {rep + 1}: {tool:12s} {runs[-1]['wall_s']:7.1f} s", flush=True)
    document = header("rlzoo_compare.py", argv, load_start) | {
        "repeats": args.repeats,
        "timesteps": timesteps,
        "zoo_version": ZOO,
        "ppo": conf[ENV_ID],
        "summary": summarize(runs),
        "runs": runs,
    }
    text = report(document)
    write_report(args.output_prefix, text, document)
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
