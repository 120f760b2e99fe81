"""Small helpers shared by tests that look at processes and servers on this machine."""

from __future__ import annotations

import os
import urllib.request


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def http_status(url: str) -> int | None:
    """The HTTP status of a GET to ``url`` (a loopback address), None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
            return int(answer.status)
    except OSError:
        return None
