"""What the benchmark scripts share, each piece in a module of its own.

command    the real `rl-train` command, its environment, where results go
stats      medians, their intervals, paired ratios, verdicts against a target
machine    the machine a result was measured on, its load, its own speed
processes  a process tree's memory and CPU, sampled from outside
network    a counting, shaping loopback proxy in front of a W&B server; its checks
results    result files: paths from a prefix, JSON, CSV, paths as shown
wandb_probes  W&B's start, finish and idle cost alone in a process

Light on purpose (standard library, psutil, and rl-train's light modules, imported where used: a
worker of env_throughput.py may run in another project's virtualenv): a benchmark's own
process must not bring torch along, or it would compete with what it measures.
"""
