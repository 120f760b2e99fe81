"""The progress a spawn reports to the spawn page, from the ECS stages of its task.

JupyterHub calls ``Spawner.progress()`` once per browser tab (and again after a reload), so
events are kept in a :class:`ProgressLog` and every listener gets all of them from the start.
Percentages never go down. JupyterHub adds its own first ("Server requested") and last
("ready" / "failed") events; these come in between.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .aws.tasks import parse_timestamp

__all__ = ["ProgressLog"]

# (key, percent, message): in the order a task goes through them.
_STAGES = {
    "submitted": (10, "ECS accepted the request for your server ({launch})"),
    "PROVISIONING": (20, "ECS is finding capacity for your server"),
    "PENDING": (30, "ECS placed your server and is preparing it"),
    "pull-started": (40, "Downloading the container image"),
    "pull-stopped": (60, "Container image downloaded{pull_time}"),
    "ACTIVATING": (70, "Connecting your server to the network"),
    "RUNNING": (80, "Your server's container is running"),
    "resolving": (90, "Finding your server's address"),
}


class ProgressLog:
    """Events of one spawn; replayable to any number of listeners."""

    def __init__(self, slow_after: float = 30.0, slow_every: float = 30.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.done = False
        self.slow_after = slow_after
        self.slow_every = slow_every
        self._seen: set[str] = set()
        self._percent = 0
        self._changed = asyncio.Event()
        self._started = time.monotonic()
        self._last_slow = 0.0

    def add(self, percent: int, message: str) -> None:
        self._percent = max(self._percent, min(percent, 99))
        self.events.append({"progress": self._percent, "message": message})
        self._changed.set()
        self._changed = asyncio.Event()

    def stage(self, key: str, **fill: Any) -> None:
        """Report a stage once; stages skipped by ECS (or by fast polling) are left out."""
        if key in self._seen:
            return
        self._seen.add(key)
        percent, message = _STAGES[key]
        self.add(percent, message.format(**fill))

    def observe(self, task: Mapping[str, Any]) -> None:
        """Report the stages a DescribeTasks answer shows, in their natural order."""
        status = task.get("lastStatus")
        if status == "PROVISIONING":
            self.stage("PROVISIONING")
        if status in ("PENDING", "ACTIVATING", "RUNNING"):
            self.stage("PENDING")
        started = parse_timestamp(task.get("pullStartedAt"))
        stopped = parse_timestamp(task.get("pullStoppedAt"))
        if started is not None:
            self.stage("pull-started")
        if stopped is not None:
            took = f" in {stopped - started:.0f} s" if started is not None else ""
            self.stage("pull-stopped", pull_time=took)
        if status == "ACTIVATING":
            self.stage("ACTIVATING")
        if status == "RUNNING":
            self.stage("RUNNING")

    def still_waiting(self, status: str) -> None:
        """After ``slow_after`` seconds, say every ``slow_every`` seconds that it is slow."""
        elapsed = time.monotonic() - self._started
        if elapsed < self.slow_after or elapsed - self._last_slow < self.slow_every:
            return
        self._last_slow = elapsed
        self.add(
            self._percent,
            f"Still starting after {elapsed:.0f} s: the task is {status or 'not yet visible'}. "
            "Large images and new capacity can take minutes.",
        )

    def finish(self) -> None:
        self.done = True
        self._changed.set()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Every event from the first, then new ones as they come, until the spawn ends."""
        sent = 0
        while True:
            changed = self._changed
            while sent < len(self.events):
                yield self.events[sent]
                sent += 1
            if self.done:
                return
            await changed.wait()
