"""The `rl-train` command line: parsing and printing only; the work is in the other
subpackages. Light: `rl-train --help` and the `runs` commands never import torch."""
