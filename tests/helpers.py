"""Small helpers shared by tests that look at processes and servers on this machine, and
run the ``awsspawner`` command against the emulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator.launcher import Emulator


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
    """The environment of the process an emulator agent runs for task ``arn`` (found by the
    ``EMULATOR_TASK_ID`` the agent gives it)."""
    for pid in task_processes(arn):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                raw = environ.read()
        except OSError:
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        return {name.decode(): value.decode(errors="replace") for name, value in pairs}
    return {}


def task_processes(arn: str) -> list[int]:
    """Live processes of task ``arn``: those the local agent started for it and their
    children (they carry its ``EMULATOR_TASK_ID``), zombies left out, oldest first."""
    mark = b"EMULATOR_TASK_ID=" + arn.rsplit("/", 1)[-1].encode()
    found = []
    for pid in sorted(os.listdir("/proc"), key=lambda p: int(p) if p.isdigit() else 0):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if mark not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/status") as status:
                if "\nState:\tZ" in status.read():
                    continue
        except OSError:
            continue
        found.append(int(pid))
    return found


def command() -> list[str]:
    """The console script pyproject.toml installs, else the module."""
    found = shutil.which("awsspawner", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "awsspawner"]


def run_awsspawner(
    emulator: Emulator,
    argv: list[str],
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """``awsspawner ARGV`` as its own process, reaching AWS through the emulator's proxy
    (``env``: more variables, as a configuration reads them)."""
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": emulator.proxy_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **(env or {}),
    }
    return subprocess.run(
        [*command(), *argv],
        capture_output=True,
        text=True,
        env=environment,
        input=stdin,
        timeout=120,
        check=False,
    )
