"""The run directory on disk: its layout, atomic writes, checkpoints, journal, run record,
code snapshot, W&B transaction-log reader, and the queries `rl-train runs` makes.

Light on purpose: the CLI's `runs` commands and the session import from here before
(or without) torch; nothing in this package imports torch or SB3.
"""
