"""One training session of a run: PPO (new or resumed), its logger outputs and callbacks,
the final evaluation, and how the session ends (exit code, summary). Imports torch and SB3:
the CLI imports it only once the flags are valid and the W&B run is starting."""
