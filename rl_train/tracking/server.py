"""Which W&B server online mode talks to, and a quick check that it answers.

wandb retries an unreachable server for minutes; checking first turns that into one
line within seconds.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from rl_train.errors import UserError

DEFAULT_BASE_URL = "https://api.wandb.ai"
SERVER_CHECK_TIMEOUT_S = 5.0


def server_url() -> str:
    return os.environ.get("WANDB_BASE_URL", DEFAULT_BASE_URL)


def server_problem(base_url: str, timeout: float = SERVER_CHECK_TIMEOUT_S) -> str | None:
    """Why no HTTP server answers at base_url within timeout, or None when one does."""
    try:
        urllib.request.urlopen(base_url, timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered; the status does not matter here
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))
    return None


def check_server_reachable(base_url: str, timeout: float = SERVER_CHECK_TIMEOUT_S) -> None:
    """Raise UserError unless an HTTP server answers at base_url within timeout."""
    reason = server_problem(base_url, timeout)
    if reason is not None:
        raise UserError(
            f"W&B server {base_url} is not reachable ({reason}); train with "
            f"--wandb-mode offline (or auto) and `rl-train runs sync` later, or set "
            "WANDB_BASE_URL",
            exit_code=3,
        )
