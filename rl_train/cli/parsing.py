"""argparse as rl-train uses it: one-line errors, whole numbers in a range, KEY=VALUE, seconds."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users get one line that names the fix.

    Every long flag takes both spellings, `--n-envs` and `--n_envs`: the offline-mode guide
    and rl-zoo print the underscore ones, our help the hyphen ones. A flag is declared once,
    hyphenated; an underscore spelling typed is read as its hyphen twin (up to a bare `--`,
    after which the words are not this parser's)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        args = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(self._hyphenated(args), namespace)

    def _hyphenated(self, args: list[str]) -> list[str]:
        words = []
        for i, word in enumerate(args):
            if word == "--":
                return words + args[i:]
            flag, equals, value = word.partition("=")
            if flag.startswith("--") and "_" in flag and flag not in self._option_string_actions:
                twin = "--" + flag[2:].replace("_", "-")
                if twin in self._option_string_actions:
                    word = twin + equals + value
            words.append(word)
        return words


def add_output_dir(parser, what: str = "where runs live") -> None:
    """--output-dir, the same for every command; its default may come from the user's
    config (`rl-train config set output-dir DIR`)."""
    from rl_train.config import user_config

    default = user_config.get("output-dir")
    parser.add_argument(
        "--output-dir",
        default=default,
        help=f"{what} (default: {default}/; `rl-train config set output-dir DIR` changes it)",
    )


def whole_number(minimum: int, maximum: int | None = None):
    """An argparse type: an int (underscores allowed) of at least `minimum` (and at most
    `maximum`)."""

    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
        return value

    return parse


def key_value(text: str) -> tuple[str, Any]:
    """An argparse type: KEY=VALUE, the value read as YAML (3 -> int, [1, 2] -> list)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), _yaml_argument(key, value)


def _yaml_argument(key: str, raw: str) -> Any:
    from rl_train.store.yaml_file import yaml_value

    try:
        return yaml_value(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{key}: the value {raw!r} is not YAML ({exc})") from None


def hyperparameter(text: str) -> dict[str, Any]:
    """An argparse type: KEY=VALUE, or rl-zoo's KEY:VALUE, the value read as YAML; a dotted
    KEY sets one key inside a mapping (policy_kwargs.net_arch=[64,64]). Returned nested:
    {"policy_kwargs": {"net_arch": [64, 64]}}."""
    import re

    match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*[=:](.*)", text, flags=re.S)
    if not match or ".." in match.group(1) or match.group(1).endswith("."):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (or KEY:VALUE), got {text!r}")
    key, raw = match.groups()
    value = _yaml_argument(key, raw)
    for part in reversed(key.split(".")[1:]):
        value = {part: value}
    return {key.split(".")[0]: value}


def seconds(minimum: float = 0.0) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds above 0, and at least `minimum`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
        if not 0 < value < float("inf"):  # also refuses nan
            raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g} s, got {text}")
        return value

    return parse
