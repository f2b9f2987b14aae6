"""What decides a run: TrainConfig, hyperparameters (shipped per env, --config, flags), the
resolution of what the user typed, and the plan of a resume. Light: no torch, no SB3 at
import time (the CLI resolves and validates flags before the trainer is imported)."""
