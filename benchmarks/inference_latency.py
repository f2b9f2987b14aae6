"""Inference latency of an exported policy: ONNX Runtime, TorchScript and SB3's predict.

A control loop at 25 Hz (our envs) has 40 ms per step, a real arm's torque loop at 1 kHz has
1 ms: how much of that one action costs decides what may run where. For each task's shipped
network (reach 64x64, push and pick-and-place 256x256), a policy is built on the task's
spaces with VecNormalize statistics from a few real steps, exported as `rl-train export`
exports it (rl_train/export), and timed call by call for batch 1 (one robot) and batch 16
(16 envs), interleaved, after a warm-up:

  onnxruntime   ExportedPolicy(file.onnx).act(observations): ONNX Runtime, CPU
  torchscript   ExportedPolicy(file.pt).act(observations): torch.jit
  sb3           VecNormalize.normalize_obs + PPO.predict(deterministic=True): what the
                policy costs inside rl-train

each with every core (the runtimes' defaults) and held to one thread (what a control loop
beside other work should use). Weights do not change the cost: the policy is untrained.

    .venv/bin/python benchmarks/inference_latency.py
    .venv/bin/python benchmarks/inference_latency.py --tasks reach --calls 5000

Writes benchmarks/results/inference_latency.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from benchlib import machine
from benchlib.command import RESULTS, script_command

from rl_train.machine import usable_cores

TASKS = ("reach", "push", "pick_and_place")
BATCHES = (1, 16)
RUNTIMES = ("onnxruntime", "torchscript", "sb3")


def build(task: str, folder: Path):
    """(SB3 model, VecNormalize, {runtime: act(batch) -> actions}) for the task's network."""
    from stable_baselines3.common.vec_env import VecNormalize

    from rl_train.config.train_config import TrainConfig
    from rl_train.export.files import WRITERS, ExportedPolicy
    from rl_train.export.policy_graph import DeterministicPolicy
    from rl_train.training.entry import resolve_config
    from rl_train.training.model import build_model
    from rl_train.vec.make import make_vec_env

    config = TrainConfig(env=task, n_envs=2, vec_env="dummy", wandb_mode="disabled")
    resolve_config(config)
    venv = make_vec_env(config)
    model = build_model(config, venv)
    normalize = model.get_env()
    assert isinstance(normalize, VecNormalize)
    normalize.reset()
    for _ in range(20):  # statistics of real observations, not the initial zeros and ones
        normalize.step(np.stack([venv.action_space.sample() for _ in range(2)]))
    normalize.training = False
    module = DeterministicPolicy(model.policy, normalize).eval()
    size = module.obs_mean.shape[0]
    acts = {}
    for fmt, runtime in (("onnx", "onnxruntime"), ("torchscript", "torchscript")):
        path = folder / f"{task}.{fmt}"
        WRITERS[fmt](module, size, path, {"benchmark": True})
        acts[runtime] = ExportedPolicy(path, fmt).act

    def sb3(observations: np.ndarray) -> np.ndarray:
        return model.predict(normalize.normalize_obs(observations), deterministic=True)[0]

    acts["sb3"] = sb3
    observations = np.stack([normalize.get_original_obs()[0]] * max(BATCHES))
    venv.close()
    return acts, observations.astype(np.float32)


def set_threads(threads: int | None, folder: Path, task: str, acts: dict) -> dict:
    """The acts with every runtime held to `threads` (None: their defaults)."""
    import onnxruntime
    import torch

    from rl_train.export.files import INPUT_NAME

    torch.set_num_threads(threads or usable_cores())
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        str(folder / f"{task}.onnx"), options, providers=["CPUExecutionProvider"]
    )
    return {**acts, "onnxruntime": lambda obs: session.run(None, {INPUT_NAME: obs})[0]}


def measure(acts: dict, observations: np.ndarray, calls: int) -> dict:
    """{runtime: {batch: per-call seconds}}, runtimes and batches interleaved in rounds."""
    times = {r: {b: [] for b in BATCHES} for r in RUNTIMES}
    for runtime in RUNTIMES:  # warm-up: first calls allocate
        for batch in BATCHES:
            for _ in range(50):
                acts[runtime](observations[:batch])
    rounds, per_round = 10, max(1, calls // 10)
    for _ in range(rounds):
        for runtime in RUNTIMES:
            for batch in BATCHES:
                obs = np.ascontiguousarray(observations[:batch])
                act, out = acts[runtime], times[runtime][batch]
                for _ in range(per_round):
                    started = time.perf_counter()
                    act(obs)
                    out.append(time.perf_counter() - started)
    return times


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median_us": statistics.median(ordered) * 1e6,
        "p99_us": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e6,
        "calls": len(ordered),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per cell")
    parser.add_argument("--output-prefix", default="inference_latency")
    args = parser.parse_args(argv)

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="rl-train-latency-") as tmp:
        folder = Path(tmp)
        for task in args.tasks:
            acts, observations = build(task, folder)
            results[task] = {}
            for label, threads in (("one thread", 1), ("all cores", None)):
                timed = measure(set_threads(threads, folder, task, acts), observations, args.calls)
                results[task][label] = {
                    r: {str(b): summary(timed[r][b]) for b in BATCHES} for r in RUNTIMES
                }
    command = script_command("inference_latency.py")
    machine_line = machine.summary_line()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    import onnxruntime
    import torch

    versions = f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}"
    lines = [
        "# Inference latency of an exported policy",
        "",
        f"`{command}` on {machine_line}, {date}; {versions}. Per call: median and 99th percentile "
        f"of {args.calls:,} calls per cell, runtimes and batch sizes interleaved.",
        "",
        "| task | threads | runtime | batch 1 median | batch 1 p99 | batch 16 median | "
        "batch 16 p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, by_threads in results.items():
        for label, by_runtime in by_threads.items():
            for runtime, cells in by_runtime.items():
                one, sixteen = cells["1"], cells["16"]
                lines.append(
                    f"| {task} | {label} | {runtime} | {one['median_us']:.0f} µs | "
                    f"{one['p99_us']:.0f} µs | {sixteen['median_us']:.0f} µs | "
                    f"{sixteen['p99_us']:.0f} µs |"
                )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.output_prefix}.md").write_text("\n".join(lines) + "\n")
    meta = {"command": command, "machine": machine_line, "date": date, "versions": versions}
    (RESULTS / f"{args.output_prefix}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1) + "\n"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
