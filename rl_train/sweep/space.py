"""A SweepSpec as Ray Tune takes it: the parameter space (the seeds a grid of their own)
and the scheduler (ASHA on env steps, not on Tune's iterations)."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler

from rl_train.sweep.spec import SPACE_KINDS, SweepSpec, is_dimension

TIME_ATTR = "env_steps"  # what each trial reports: ASHA's rungs are env steps


def dimension(value: Any) -> Any:
    if not is_dimension(value):
        return value
    kind = next(k for k in value if k in SPACE_KINDS)
    values = value[kind]
    if kind == "grid":
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    if kind == "uniform":
        return tune.uniform(*values)
    if kind == "loguniform":
        return tune.loguniform(*values)
    return tune.randint(*values)


def param_space(spec: SweepSpec) -> dict[str, Any]:
    space = {key: dimension(value) for key, value in spec.space.items()}
    space["seed"] = tune.grid_search(spec.seeds)
    return space


def scheduler(spec: SweepSpec, total_timesteps: int) -> ASHAScheduler | None:
    if not spec.scheduler:
        return None
    asha = spec.scheduler.get("asha") or {}
    return ASHAScheduler(
        time_attr=TIME_ATTR,
        max_t=total_timesteps,
        grace_period=int(asha.get("grace_period", max(1, total_timesteps // 4))),
        reduction_factor=float(asha.get("reduction_factor", 2)),
    )
