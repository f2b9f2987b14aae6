"""`python -m rl_train.cli`: the same as the `rl-train` command."""

from rl_train.cli.main import entry_point

entry_point()
