"""DeterministicPolicy: what SB3's predict(deterministic=True) computes, as one torch module
from a raw observation to the action, for export.

SB3 splits that computation between VecNormalize (observation normalization and clipping,
numpy, float64), the policy (features, latent, the distribution's mode) and predict (the
clip to the action box). The recipe in SB3's docs exports only the middle part, so the file
acts on raw observations as if they were normalized: the mistake this module exists to
avoid. Dict observations come as one flat vector, the keys in the order the policy's
CombinedExtractor concatenates them (observation_keys() names them).
"""

from __future__ import annotations

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    CategoricalDistribution,
    DiagGaussianDistribution,
    StateDependentNoiseDistribution,
)
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor
from stable_baselines3.common.vec_env import VecNormalize

from rl_train.errors import UserError
from rl_train.training.policies import BoundedMlpPolicy


class DeterministicPolicy(th.nn.Module):
    """forward(observation [batch, n] float32, raw) -> action [batch, ...] as predict gives."""

    def __init__(self, policy, normalize: VecNormalize | None) -> None:
        super().__init__()
        check_exportable(policy)
        self.policy = policy.eval()
        mean, scale, low, high = _normalization(policy.observation_space, normalize)
        # float64 as VecNormalize computes: the exported action then differs from SB3's
        # only by the float32 network's own rounding.
        self.register_buffer("obs_mean", th.as_tensor(mean, dtype=th.float64))
        self.register_buffer("obs_scale", th.as_tensor(scale, dtype=th.float64))
        self.register_buffer("obs_low", th.as_tensor(low, dtype=th.float64))
        self.register_buffer("obs_high", th.as_tensor(high, dtype=th.float64))
        action_space = policy.action_space
        self.discrete = isinstance(action_space, spaces.Discrete)
        self.bounded = isinstance(policy, BoundedMlpPolicy)
        if not self.discrete:
            self.action_shape = tuple(action_space.shape)
            self.register_buffer("action_low", th.as_tensor(action_space.low, dtype=th.float32))
            self.register_buffer("action_high", th.as_tensor(action_space.high, dtype=th.float32))

    def forward(self, observation: th.Tensor) -> th.Tensor:
        normalized = (observation.to(th.float64) - self.obs_mean) / self.obs_scale
        normalized = th.minimum(th.maximum(normalized, self.obs_low), self.obs_high)
        # Box leaves are flattened and concatenated by either extractor: the flat vector is
        # already the features (check_exportable refuses anything else).
        features = normalized.to(th.float32)
        latent = self.policy.mlp_extractor.forward_actor(features)
        logits = self.policy.action_net(latent)
        if self.discrete:
            return th.argmax(logits, dim=1)
        if self.bounded:  # BoundedMlpPolicy's mean, squashed into the box
            logits = self.policy._action_middle + self.policy._action_half_range * th.tanh(logits)
        action = logits.reshape((-1, *self.action_shape))  # as predict shapes it
        return th.minimum(th.maximum(action, self.action_low), self.action_high)


def observation_keys(observation_space: spaces.Space) -> list[tuple[str, int]]:
    """(key, size) of each part of the flat observation, in order; [("", n)] for a Box."""
    if isinstance(observation_space, spaces.Dict):
        return [(key, int(np.prod(space.shape))) for key, space in observation_space.spaces.items()]
    return [("", int(np.prod(observation_space.shape)))]


def check_exportable(policy) -> None:
    """One line naming what cannot be exported, before any work."""
    obs_space, action_space = policy.observation_space, policy.action_space
    leaves = obs_space.spaces.values() if isinstance(obs_space, spaces.Dict) else [obs_space]
    for leaf in leaves:
        if not isinstance(leaf, spaces.Box) or is_image_space(leaf, check_channels=False):
            raise UserError(
                f"cannot export a policy observing {leaf}: only flat Box observations (or a "
                "Dict of them) are exported"
            )
    extractor = policy.pi_features_extractor
    flat = isinstance(extractor, FlattenExtractor) or (
        isinstance(extractor, CombinedExtractor)
        and all(isinstance(e, th.nn.Flatten) for e in extractor.extractors.values())
    )
    if not flat:
        raise UserError(
            f"cannot export a policy with the features extractor {type(extractor).__name__}: "
            "only SB3's FlattenExtractor and CombinedExtractor of flat observations are exported"
        )
    distribution = policy.action_dist
    if isinstance(distribution, CategoricalDistribution) and isinstance(
        action_space, spaces.Discrete
    ):
        return
    gaussian = isinstance(distribution, DiagGaussianDistribution) or (
        isinstance(distribution, StateDependentNoiseDistribution)
        and not distribution.use_expln
        and not policy.squash_output
    )
    if not (gaussian and isinstance(action_space, spaces.Box) and not policy.squash_output):
        raise UserError(
            f"cannot export a policy with {type(distribution).__name__} actions in "
            f"{action_space}{' (squashed)' if policy.squash_output else ''}: only Gaussian "
            "policies over a Box and categorical ones over a Discrete are exported"
        )


def _normalization(observation_space, normalize: VecNormalize | None):
    """Per entry of the flat observation: mean, scale, clip low and high (identity and no
    clip where VecNormalize leaves a key alone, or without VecNormalize)."""
    size = sum(n for _, n in observation_keys(observation_space))
    mean, scale = np.zeros(size), np.ones(size)
    low, high = np.full(size, -np.inf), np.full(size, np.inf)
    if normalize is None or not normalize.norm_obs:
        return mean, scale, low, high
    start = 0
    for key, n in observation_keys(observation_space):
        part = slice(start, start + n)
        start += n
        if key and key not in (normalize.norm_obs_keys or []):
            continue
        rms = normalize.obs_rms[key] if key else normalize.obs_rms
        mean[part] = np.asarray(rms.mean, dtype=np.float64).ravel()
        scale[part] = np.sqrt(np.asarray(rms.var, dtype=np.float64).ravel() + normalize.epsilon)
        low[part], high[part] = -normalize.clip_obs, normalize.clip_obs
    return mean, scale, low, high
