"""YAML a user wrote or a run holds: its data, or one line naming the file, the line of a
syntax error, and the fix; a YAML value typed on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rl_train.errors import UserError


def read_yaml(path: Path, what: str, fix: str, missing_fix: str | None = None) -> Any:
    """The file's data. `what` names the kind of file ("config file "); `fix` ends the line
    of an unreadable or invalid file, `missing_fix` (default `fix`) that of a missing one."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{what}{path} does not exist; {missing_fix or fix}") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UserError(f"{what}{path} is not valid YAML{where}; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UserError(f"cannot read {what}{path} ({reason}); {fix}") from None


def yaml_value(text: str) -> Any:
    """A value as YAML reads it (3 -> int, [1, 2] -> list); ValueError with the first line
    of YAML's complaint."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
