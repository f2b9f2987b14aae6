"""The test of a finished run: its final policy and its best, each on the test episodes.

The test episodes (seed + TEST_SEEDS + i, docs/evaluation.md "Seeds") are ones that neither
training nor the validation evaluations that chose `best` ever played, on evaluation envs
with the task's standard starts (never train_env_kwargs): the score a user may publish.
The final policy's goes into run.json and the run's test/* row; best's into its meta.json
(`test`), so `runs show` reports an unbiased score for it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from rl_train.config.train_config import FINAL_EVAL_EPISODES, TEST_SEEDS, TrainConfig
from rl_train.evaluation.episodes import evaluate
from rl_train.evaluation.policy import Target, load_policy
from rl_train.evaluation.result import EvalResult
from rl_train.store import checkpoint
from rl_train.training.callbacks.evaluation import copy_normalization


@dataclass
class FinalScores:
    first_seed: int
    final: EvalResult
    best: EvalResult | None = None
    best_step: int | None = None

    def log_values(self) -> dict[str, float]:
        """The test/* row of the final step."""
        values = {"test/mean_reward": self.final.mean_return}
        if self.final.success_rate is not None:
            values["test/success_rate"] = self.final.success_rate
        if self.best is not None and self.best.success_rate is not None:
            values["test/best_success_rate"] = self.best.success_rate
        return values

    def as_record(self) -> dict[str, Any]:
        return {
            "first_seed": self.first_seed,
            "final": self.final.as_dict(),
            "best": None if self.best is None else {"step": self.best_step, **self.best.as_dict()},
        }


def score_on_test_episodes(
    model: Any, train_venv: VecEnv, test_venv: VecEnv, config: TrainConfig, best_dir: Path
) -> FinalScores:
    """The final policy (`model`, with the training's VecNormalize statistics frozen) and
    the policy in `best_dir`, if any, on FINAL_EVAL_EPISODES test episodes of `test_venv`."""
    first_seed = config.seed + TEST_SEEDS
    copy_normalization(train_venv, test_venv)
    report = FinalScores(first_seed, evaluate(model, test_venv, FINAL_EVAL_EPISODES, first_seed))
    try:
        best = checkpoint.validate(best_dir)
    except checkpoint.CheckpointError:
        return report  # no evaluation chose one
    report.best_step = best.step
    if best.step == model.num_timesteps:  # the final policy is the best
        report.best = report.final
    else:
        raw = test_venv.venv if isinstance(test_venv, VecNormalize) else test_venv
        best_model, best_venv = load_policy(Target(best, config, "best"), raw)
        report.best = evaluate(best_model, best_venv, FINAL_EVAL_EPISODES, first_seed)
    test = {"first_seed": first_seed, **report.best.as_dict()}
    checkpoint.add_to_meta(best_dir, checkpoint.TEST_KEY, test)
    return report
