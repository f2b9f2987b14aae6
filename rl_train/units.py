"""Durations, sizes and ages as people read and write them."""

from __future__ import annotations

import re

from rl_train.errors import UserError

AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def format_duration(seconds: float) -> str:
    """'4m07s', '2h05m'."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def human_size(size: float) -> str:
    """'512 B', '3.4 MB'."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def parse_age(text: str) -> float:
    """'2d', '12h', '30m', '45s', '1w' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not match:
        raise UserError(f"age {text!r} is not understood; write it like 30m, 12h, 2d or 1w")
    return float(match.group(1)) * AGE_UNITS[match.group(2)]
