"""Pieces of a training session in-process: exit codes, logger values, the model's settings."""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import numpy as np
import torch

from rl_train.training.log_outputs import array, scalar
from rl_train.training.model import as_schedule
from rl_train.training.outcome import disk_full_message, exit_code, is_disk_full


def test_exit_codes_are_what_a_shell_reports():
    assert exit_code("finished", None) == 0
    assert exit_code("crashed", None) == 1
    assert exit_code("interrupted", signal.SIGINT) == 130
    assert exit_code("interrupted", signal.SIGTERM) == 143
    assert exit_code("aborted", signal.SIGINT) == 130


def test_disk_full_names_the_file_and_the_resume_command():
    exc = OSError(errno.ENOSPC, "No space left on device", "runs/r1/checkpoints/x")
    assert is_disk_full(exc) and not is_disk_full(OSError(errno.EACCES, "denied"))
    message = disk_full_message(exc, Path("runs/r1"))
    assert "runs/r1/checkpoints/x" in message and "rl-train --resume runs/r1" in message


def test_logger_values_become_plain_numbers_or_arrays():
    for value, expected in [
        (True, 1),
        (3, 3),
        (np.float32(0.5), 0.5),
        (np.array(2.0), 2.0),
        (torch.tensor(1.5), 1.5),
    ]:
        got = scalar(value)
        assert got == expected and type(got) in (int, float), (value, got)
    assert scalar("text") is None and scalar(np.zeros(3)) is None
    assert array(torch.ones(4)).tolist() == [1.0] * 4
    assert array(np.float32(1.0)) is None


def test_lin_schedules_decay_linearly_to_zero():
    schedule = as_schedule("lin_0.001")
    assert schedule(1.0) == 0.001 and schedule(0.5) == 0.0005 and schedule(0.0) == 0.0
    assert as_schedule(0.2) == 0.2
