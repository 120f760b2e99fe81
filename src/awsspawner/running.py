"""A started server's task: poll, stop, and finding the task of a spawn a hub restart
interrupted.

:class:`ServerTask` is the small interface :meth:`AWSSpawner.poll` and :meth:`AWSSpawner.stop`
delegate to. It is given everything it works with (the spawner's :class:`TaskState`, the
gateway, the shared watcher, the timings) and reads and writes only the task fields of that
state. Every look at ECS goes through the shared task watcher, so a poll round of all servers
costs one batched refresh.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .aws.gateway import ECSGateway
from .aws.tasks import exit_code, spot_interruption
from .aws.watcher import TaskWatcher
from .errors import AWSError
from .launch.tags import TAG_SPAWN, escape_tag_value, started_by_for_hub
from .state import TaskState

__all__ = ["ServerTask", "Timings"]


@dataclass(frozen=True)
class Timings:
    """``c.AWSSpawner`` timings that poll and stop follow."""

    poll_interval: float
    startup_poll_interval: float
    stop_wait_seconds: float
    missing_grace_seconds: float


@dataclass
class ServerTask:
    """poll() and stop() for the task a spawn started (or a hub restart left behind)."""

    state: TaskState
    gateway: ECSGateway
    watcher: TaskWatcher
    #: used when the state names none (a state saved before RunTask)
    cluster: str
    container: str
    hub_id: str
    timings: Timings
    log: logging.Logger | logging.LoggerAdapter

    async def adopt_interrupted_spawn(self) -> None:
        """A spawn whose task ARN never reached the database (the hub died during RunTask):
        find its task by the clientToken tag, so it can be resumed or stopped."""
        state = self.state
        if state.task_arn or not state.client_token:
            return
        task = await self.gateway.find_tagged_task(
            state.task_cluster or self.cluster,
            started_by_for_hub(self.hub_id),
            TAG_SPAWN,
            escape_tag_value(state.client_token),
        )
        if task is not None:
            state.task_arn = str(task["taskArn"])
            state.run_task_at = time.monotonic()
            state.commit_state()
            self.log.info("Found task %s of an interrupted spawn", state.task_arn)

    async def poll(self, logged_error: bool) -> tuple[int | None, bool]:
        """(JupyterHub's poll() answer, whether an "AWS did not answer" warning has been
        logged since the last good answer). Never "stopped" because AWS was slow."""
        if self.state.stopped_status is not None:
            # stop() has returned and saw how the task ended; the hub has not cleared the
            # state yet (a post_stop_hook may poll). Asking AWS again could only be slower.
            return self.state.stopped_status, False
        if self.state.run_task_in_flight and not self.state.task_arn:
            return None, logged_error  # RunTask unanswered: the task may exist already
        try:
            await self.adopt_interrupted_spawn()
        except AWSError as exc:
            self.log.warning("Cannot look for the task of an interrupted spawn: %s", exc)
            return None, logged_error
        arn = self.state.task_arn
        if not arn:
            return 0, False
        snapshot = await self.watcher.snapshot(arn, self.timings.poll_interval * 0.9)
        if snapshot.stale or not snapshot.known:
            if not logged_error:
                self.log.warning("Cannot check task %s, assuming it runs: %s", arn, snapshot.error)
            return None, True
        task = snapshot.task
        if task is None:
            gone = self.state.missing_too_long(self.timings.missing_grace_seconds)
            return (1 if gone else None), False
        self._note_interruption(task)
        if task.get("lastStatus") != "STOPPED":
            return None, False
        return exit_code(task, self.state.task_container or self.container), False

    def _note_interruption(self, task: Mapping[str, Any]) -> None:
        """AWS is taking the task's Spot capacity back (during the notice, or after): the
        user's next spawn says so."""
        when = spot_interruption(task)
        if when is not None:
            self.state.note_interruption(str(task.get("stopCode")), when)

    async def stop(self, now: bool = False) -> None:
        await self.adopt_interrupted_spawn()
        arn = self.state.task_arn
        if not arn:
            return
        await self.gateway.stop_task(
            self.state.task_cluster or self.cluster, arn, "Stopped by JupyterHub"
        )
        wait = self.timings.stop_wait_seconds
        interval = self.timings.startup_poll_interval
        deadline = time.monotonic() + (0 if now else wait)
        # What poll() answers from now on: the exit status when the task was seen STOPPED,
        # else 0 (the hub counts the server as stopped once stop() returns).
        status = 0
        try:
            while time.monotonic() < deadline:
                snapshot = await self.watcher.snapshot(arn, interval * 0.9)
                task = snapshot.task
                if snapshot.known and (task is None or task.get("lastStatus") == "STOPPED"):
                    if task is not None:
                        status = exit_code(task, self.state.task_container or self.container)
                        self._note_interruption(task)
                    break
                await asyncio.sleep(interval)
            else:
                if not now:
                    self.log.warning("Task %s was not STOPPED within %ss", arn, wait)
            self.state.stopped_status = status
        finally:
            self.watcher.forget(arn)
