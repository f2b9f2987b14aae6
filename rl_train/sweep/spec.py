"""The sweep file (SWEEP.yaml): a base training config, a search space, the seeds, the metric
and an optional scheduler; and the TrainConfig of each trial. Light: no Ray, no torch.

    base:            training options, the CLI's (env, use_simple_env, n_envs, ...)
    hyperparams:     PPO hyperparameters every trial shares (the keys of --config)
    space:           key -> value, or {grid|choice: [...]}, {uniform|loguniform|randint: [lo, hi]}
                     (add `schedule: lin` for a linear decay from the sampled value)
    seeds:           [0, 1, 2] or "0-4": every configuration runs once per seed
    metric, mode:    what Tune ranks by (default eval/success_rate, max)
    scheduler:       {asha: {grace_period: STEPS, reduction_factor: 2}} (on env steps)
    num_samples, max_concurrent, cpus_per_trial, gpus_per_trial
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rl_train.config.train_config import TrainConfig, default_vec_env, wandb_mode_from_env
from rl_train.errors import UserError
from rl_train.store.yaml_file import read_yaml

SPEC_FILE = "sweep.yaml"  # in the sweep's folder: what --resume and --report read
SPACE_KINDS = ("grid", "choice", "uniform", "loguniform", "randint")
RANGE_KINDS = ("uniform", "loguniform", "randint")
SCHEDULERS = ("asha",)
DEFAULT_METRIC = "eval/success_rate"
# Training options a sweep sets itself: the trial's run name, folder and W&B group.
NOT_OPTIONS = ("env_id", "run_name", "output_dir", "resume", "hyperparams", "wandb_group")
OPTION_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_OPTIONS)
SHM_WORKERS_PER_TRIAL = 1  # a trial's default --n-workers: trials, not workers, fill cores
TOP_KEYS = (
    "name",
    "base",
    "hyperparams",
    "space",
    "seeds",
    "metric",
    "mode",
    "scheduler",
    "num_samples",
    "max_concurrent",
    "cpus_per_trial",
    "gpus_per_trial",
)


def parse_seeds(text: str | int | list[Any]) -> list[int]:
    """`0-4`, `0,3,7`, 3 or [0, 1]: the seeds, each a whole number, in the order given."""
    if isinstance(text, bool):
        raise UserError(f"seeds {text!r}: give whole numbers like 0-4 or 0,1,2")
    if isinstance(text, int):
        return [text]
    items = text if isinstance(text, list) else str(text).split(",")
    seeds: list[int] = []
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            seeds.append(item)
            continue
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(item))
        if not match or (match.group(2) and int(match.group(2)) < int(match.group(1))):
            raise UserError(f"seeds {text!r}: give whole numbers like 0-4 or 0,1,2")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        seeds.extend(range(first, last + 1))
    if len(set(seeds)) != len(seeds):
        raise UserError(f"seeds {text!r}: a seed appears twice")
    return seeds


def _check_dimension(key: str, value: Any, source: str) -> None:
    if not is_dimension(value):
        return
    kinds = [k for k in value if k in SPACE_KINDS]
    extra = sorted(set(value) - set(SPACE_KINDS) - {"schedule"})
    if len(kinds) != 1 or extra:
        raise UserError(
            f"{source}: space key {key!r} needs exactly one of {', '.join(SPACE_KINDS)} "
            f"(got {', '.join(sorted(value))})"
        )
    kind, values = kinds[0], value[kinds[0]]
    if not isinstance(values, list) or not values:
        raise UserError(f"{source}: space key {key!r}: {kind} takes a list of values")
    if kind in RANGE_KINDS:
        if len(values) != 2 or not all(isinstance(v, int | float) for v in values):
            raise UserError(f"{source}: space key {key!r}: {kind} takes [low, high], two numbers")
        if values[0] >= values[1] or (kind == "loguniform" and values[0] <= 0):
            raise UserError(
                f"{source}: space key {key!r}: {kind} needs low < high"
                + (" and low > 0" if kind == "loguniform" else "")
            )
    if value.get("schedule", "lin") != "lin":
        raise UserError(f"{source}: space key {key!r}: schedule can only be lin")


def is_dimension(value: Any) -> bool:
    """A search-space entry (a mapping with one of SPACE_KINDS) rather than a fixed value."""
    return isinstance(value, dict) and any(k in SPACE_KINDS for k in value)


@dataclass
class SweepSpec:
    name: str
    base: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields as typed
    hyperparams: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    metric: str = DEFAULT_METRIC
    mode: str = "max"
    scheduler: dict[str, Any] | None = None
    num_samples: int = 1
    max_concurrent: int = 0  # 0: as many as the cluster's CPUs allow
    cpus_per_trial: float | None = None  # None: the trial's env workers + the learner
    gpus_per_trial: float = 0

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_mapping(cls, data: Any, source: str) -> SweepSpec:
        if not isinstance(data, dict):
            raise UserError(f"{source} must hold a mapping (base, space, seeds, ...)")
        unknown = sorted(set(data) - set(TOP_KEYS))
        if unknown:
            raise UserError(
                f"{source}: unknown key {unknown[0]!r}; valid keys: {', '.join(TOP_KEYS)}"
            )
        spec = cls(name=str(data.get("name") or ""))
        spec.base = dict(data.get("base") or {})
        spec.hyperparams = dict(data.get("hyperparams") or {})
        spec.space = dict(data.get("space") or {})
        if "seeds" in data:
            spec.seeds = parse_seeds(data["seeds"])
        spec.metric = str(data.get("metric", DEFAULT_METRIC))
        spec.mode = str(data.get("mode", "max"))
        spec.scheduler = data.get("scheduler")
        for key in ("num_samples", "max_concurrent"):
            if key in data:
                setattr(spec, key, data[key])
        spec.cpus_per_trial = data.get("cpus_per_trial")
        spec.gpus_per_trial = data.get("gpus_per_trial", 0) or 0
        spec.validate(source)
        return spec

    @classmethod
    def from_file(cls, path: Path) -> SweepSpec:
        data = read_yaml(
            path, "sweep file ", "fix its syntax", missing_fix="check the --config path"
        )
        return cls.from_mapping(data, f"sweep file {path}")

    def validate(self, source: str) -> None:
        if "config" in self.base:  # the CLI's name for config_file
            self.base["config_file"] = self.base.pop("config")
        bad = sorted(set(self.base) - set(OPTION_KEYS))
        if bad:
            raise UserError(
                f"{source}: base key {bad[0]!r} is not a training option; PPO "
                "hyperparameters go under hyperparams, the sweep sets run names and folders"
            )
        for key in ("seed", "resume"):
            if key in self.base or key in self.space:
                raise UserError(f"{source}: {key!r} is the sweep's to set; list seeds under seeds")
        bad = sorted(set(self.space) & set(NOT_OPTIONS))
        if bad:
            raise UserError(f"{source}: space key {bad[0]!r} is the sweep's to set")
        for key, value in self.space.items():
            _check_dimension(key, value, source)
        if self.mode not in ("max", "min"):
            raise UserError(f"{source}: mode must be max or min, not {self.mode!r}")
        if self.scheduler is not None:
            if not isinstance(self.scheduler, dict) or sorted(self.scheduler) != ["asha"]:
                raise UserError(f"{source}: scheduler must be {{asha: {{...}}}} or left out")
            asha = self.scheduler["asha"] or {}
            if not isinstance(asha, dict) or set(asha) - {"grace_period", "reduction_factor"}:
                raise UserError(
                    f"{source}: scheduler asha takes grace_period (env steps) and reduction_factor"
                )
        for key in ("num_samples", "max_concurrent"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise UserError(f"{source}: {key} must be a whole number, not {value!r}")
        if self.num_samples < 1:
            raise UserError(f"{source}: num_samples must be at least 1")
        if self.name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name):
            raise UserError(f"{source}: name {self.name!r} may use letters, digits, '.', '_', '-'")

    def hyperparameter_keys(self) -> list[str]:
        """Space keys that are PPO hyperparameters rather than training options."""
        return [key for key in self.space if key not in OPTION_KEYS]

    def check_hyperparameters(self) -> None:
        """Every PPO key, fixed or searched, is one PPO takes."""
        from rl_train.config import hyperparams

        hyperparams.validate(self.hyperparams, "sweep hyperparams")
        sample = {key: example_value(self.space[key]) for key in self.hyperparameter_keys()}
        hyperparams.validate(sample, "sweep space")

    # ------------------------------------------------------------------ the sweep's folder
    def save(self, sweep_dir: Path) -> None:
        from rl_train.store.atomic import write_text_atomic

        text = yaml.safe_dump(dataclasses.asdict(self), sort_keys=False)
        write_text_atomic(sweep_dir / SPEC_FILE, text)

    @classmethod
    def load(cls, sweep_dir: Path) -> SweepSpec:
        path = sweep_dir / SPEC_FILE
        if not path.is_file():
            raise UserError(
                f"{sweep_dir} is not a sweep (no {SPEC_FILE}); pass the name of a sweep "
                "under --output-dir"
            )
        data = read_yaml(path, "", "it is the sweep's record: restore it, or start a new sweep")
        return cls.from_mapping(data, f"{path}")

    # ------------------------------------------------------------------ trials
    def base_config(self, output_dir: Path) -> TrainConfig:
        config = TrainConfig(**self.base)
        if "vec_env" not in self.base:
            config.vec_env = default_vec_env(config.use_simple_env)
        if "wandb_mode" not in self.base:  # as the CLI: $WANDB_MODE, else offline
            config.wandb_mode = wandb_mode_from_env(None)
        config.output_dir = str(output_dir)
        return config

    def env_workers(self) -> int:
        """Env worker processes a trial starts (shm: --n-workers, default one per trial)."""
        config = self.base_config(Path("."))
        if config.vec_env == "shm":
            return min(config.n_workers or SHM_WORKERS_PER_TRIAL, config.n_envs)
        if config.vec_env == "subproc":
            return config.n_envs
        return 0  # native, dummy: the envs step in the trial's own process

    def trial_cpus(self) -> float:
        """CPUs a trial asks Ray for: its env workers plus the learner."""
        if self.cpus_per_trial is not None:
            return float(self.cpus_per_trial)
        return float(self.env_workers() + 1)

    def trial_config(
        self, params: dict[str, Any], run_name: str, sweep_dir: Path
    ) -> tuple[TrainConfig, set[str]]:
        """A trial's TrainConfig (not yet resolved) and the fields it sets explicitly."""
        config = self.base_config(sweep_dir)
        explicit = set(self.base) | {"seed"}
        hyper = dict(self.hyperparams)
        for key, value in params.items():
            if key == "seed":
                config.seed = int(value)
            elif key in OPTION_KEYS:
                setattr(config, key, value)
                explicit.add(key)
            else:
                hyper[key] = value
            if is_dimension(self.space.get(key)) and self.space[key].get("schedule") == "lin":
                hyper[key] = f"lin_{value}"  # a linear decay from the sampled value
        if config.vec_env == "shm" and not config.n_workers:
            config.n_workers = self.env_workers()
        if config.update_threads == 0:  # "every core": the trial's CPUs, not the machine's
            config.update_threads = max(1, int(self.trial_cpus()))
        config.hyperparams = hyper
        config.run_name = run_name
        config.wandb_group = self.name
        return config, explicit


def example_value(value: Any) -> Any:
    """A value a dimension can take (to check its key), or the fixed value itself."""
    if not is_dimension(value):
        return value
    kind = next(k for k in value if k in SPACE_KINDS)
    sample = value[kind][0]
    return f"lin_{sample}" if value.get("schedule") == "lin" else sample


def swept_keys(spec: SweepSpec) -> list[str]:
    """The keys whose values differ between trials' configs (not the seed)."""
    return [key for key, value in spec.space.items() if is_dimension(value)]
