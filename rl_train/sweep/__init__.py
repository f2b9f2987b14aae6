"""Sweeps on Ray Tune (`rl-train sweep`): the sweep file and its trials' configs (spec.py),
the search space and scheduler as Tune takes them (space.py), one trial as an ordinary run
trained in a Ray worker (trial.py), the driver that runs or restores the Tuner (driver.py),
and the results read back from the trials' run dirs (report.py). spec.py and report.py are
light (no Ray, torch or SB3): `--report` and the CLI's checks need no Ray."""
