"""Policy classes of our own, by the names ppo.yml and --config may give as `policy`.

BoundedMlpPolicy: SB3's MlpPolicy with the Gaussian's mean squashed into the action box
(tanh), the noise and the clipping to the box left as SB3 has them. Why: SB3 clips
actions to the box after sampling, so a mean that wanders past a bound gets no gradient
back (every sample near it is clipped to the same action) and that action dimension stops
exploring. In pick-and-place PPO drove the hand's vertical mean to -3 while reaching down
to the cube and then never tried lifting it (docs/performance/learning-runs.md). With the
mean inside the box, a policy at a bound still samples actions inside it.
"""

from __future__ import annotations

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import DiagGaussianDistribution, Distribution
from stable_baselines3.common.policies import ActorCriticPolicy


class BoundedMlpPolicy(ActorCriticPolicy):
    def __init__(self, observation_space, action_space, *args, **kwargs) -> None:
        if not (
            isinstance(action_space, spaces.Box)
            and np.all(np.isfinite(action_space.low))
            and np.all(np.isfinite(action_space.high))
        ):
            raise ValueError("BoundedMlpPolicy needs a Box action space with finite bounds")
        super().__init__(observation_space, action_space, *args, **kwargs)
        low = th.as_tensor(action_space.low, dtype=th.float32)
        high = th.as_tensor(action_space.high, dtype=th.float32)
        self.register_buffer("_action_middle", (high + low) / 2, persistent=False)
        self.register_buffer("_action_half_range", (high - low) / 2, persistent=False)

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> Distribution:
        if not isinstance(self.action_dist, DiagGaussianDistribution):
            return super()._get_action_dist_from_latent(latent_pi)  # gSDE: its own squashing
        mean = self._action_middle + self._action_half_range * th.tanh(self.action_net(latent_pi))
        return self.action_dist.proba_distribution(mean, self.log_std)


# The names a config may use, beside SB3's own ("MlpPolicy", "MultiInputPolicy", ...).
POLICIES = {"BoundedMlpPolicy": BoundedMlpPolicy}
