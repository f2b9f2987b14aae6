"""evaluate_exported: an exported policy file played in its env, in this process, with no
torch in it when the file is ONNX (what a robot's computer would run): `rl-train eval
--policy`.

The episodes are the ones `rl-train eval` plays for a checkpoint: episode i starts from
reset(seed=first_seed + i), whichever env plays it, so the file and its checkpoint are
scored on the same starts. The envs are built as evaluation workers build theirs
(EnvFactory: gym.make, plus FlatActions where the policy acts in a flattened space) and
stepped in turn, their observations batched into one call of the policy.
"""

from __future__ import annotations

import numpy as np

from rl_train.evaluation.result import EvalResult
from rl_train.export.files import ExportedPolicy, flat_observations
from rl_train.vec.env_factory import EnvFactory


def flat(observation, keys: list[list]) -> np.ndarray:
    """One observation as the file takes it (a batch of one, unbatched)."""
    if isinstance(observation, dict):
        return flat_observations({k: np.asarray(v)[None] for k, v in observation.items()}, keys)[0]
    return flat_observations(np.asarray(observation)[None], keys)[0]


def evaluate_exported(
    policy: ExportedPolicy,
    env_id: str,
    episodes: int,
    first_seed: int,
    n_envs: int,
    env_kwargs: dict | None = None,
) -> EvalResult:
    keys = policy.metadata["observation"]["keys"]
    envs = [
        EnvFactory(env_id, first_seed, rank, dict(env_kwargs or {}))() for rank in range(n_envs)
    ]
    returns, lengths, successes = [0.0] * episodes, [0] * episodes, [None] * episodes
    try:
        playing: dict[int, int] = {}  # env index -> episode number
        observations: dict[int, np.ndarray] = {}
        next_episode = 0

        def start_next(i: int) -> None:  # env i plays the next episode, if one is left
            nonlocal next_episode
            if next_episode < episodes:
                observations[i] = flat(envs[i].reset(seed=first_seed + next_episode)[0], keys)
                playing[i] = next_episode
                next_episode += 1

        for i in range(len(envs)):
            start_next(i)
        while playing:
            active = sorted(playing)
            actions = policy.act(np.stack([observations[i] for i in active]))
            for i, action in zip(active, actions, strict=True):
                episode = playing[i]
                observation, reward, terminated, truncated, info = envs[i].step(action)
                returns[episode] += float(reward)
                lengths[episode] += 1
                if not (terminated or truncated):
                    observations[i] = flat(observation, keys)
                    continue
                if "is_success" in info:
                    successes[episode] = bool(info["is_success"])
                del playing[i]
                start_next(i)
    finally:
        for env in envs:
            env.close()
    reported = [s for s in successes if s is not None]
    return EvalResult(returns, lengths, reported if len(reported) == episodes else [])
