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


def task_environment(arn: str) -> dict[str, str]:
    """The environment of the process an emulator agent runs for task ``arn`` (found by its
    working directory, the folder the agent made for the task)."""
    task_id = arn.rsplit("/", 1)[-1]
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.path.basename(os.readlink(f"/proc/{pid}/cwd")) != task_id:
                continue
            with open(f"/proc/{pid}/environ", "rb") as environ:
                raw = environ.read()
        except OSError:
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {name.decode(): value.decode(errors="replace") for name, value in pairs}
    return {}
