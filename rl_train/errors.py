"""Errors a user can cause: each carries one line that names the problem and the fix."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; the CLI prints `rl-train: error: <message>` and exits."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
