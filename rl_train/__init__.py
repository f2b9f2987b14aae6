"""rl-train: vectorized PPO for robot arms, logged offline-first.

Kept import-free on purpose: env worker processes import modules from this package
and must never pull in torch or wandb.
"""

__version__ = "0.1.0"
