"""A started server's task: poll, stop, and finding the task of a spawn a hub restart
interrupted. A mixin of :class:`~awsspawner.AWSSpawner`; every look at ECS goes through the
shared task watcher, so a poll round of all servers costs one batched refresh."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .aws.tasks import exit_code
from .errors import AWSError
from .launch.tags import TAG_SPAWN, escape_tag_value, started_by_for_hub

if TYPE_CHECKING:
    from .aws.gateway import ECSGateway
    from .aws.watcher import TaskWatcher

__all__ = ["RunningServer"]


class RunningServer:
    """poll() and stop() for the task a spawn started (or a hub restart left behind)."""

    if TYPE_CHECKING:
        task_arn: str
        task_cluster: str
        task_container: str
        client_token: str
        task_cluster_name: str
        task_container_name: str
        hub_id: str
        poll_interval: int
        startup_poll_interval: float
        stop_wait_seconds: float
        _run_task_at: float
        _poll_error_logged: bool
        log: Any

        def _commit_state(self) -> None: ...

        def ecs_gateway(self, settings: Any = None) -> ECSGateway: ...

        def task_watcher(self, gateway: ECSGateway) -> TaskWatcher: ...

        def _missing_too_long(self) -> bool: ...

    async def _adopt_interrupted_spawn(self) -> None:
        """A spawn whose task ARN never reached the database (the hub died during RunTask):
        find its task by the clientToken tag, so it can be resumed or stopped."""
        if self.task_arn or not self.client_token:
            return
        task = await self.ecs_gateway().find_tagged_task(
            self.task_cluster or self.task_cluster_name,
            started_by_for_hub(self.hub_id),
            TAG_SPAWN,
            escape_tag_value(self.client_token),
        )
        if task is not None:
            self.task_arn = str(task["taskArn"])
            self._run_task_at = time.monotonic()
            self._commit_state()
            self.log.info("Found task %s of an interrupted spawn", self.task_arn)

    # ----------------------------------------------------------------------------- poll

    async def poll(self) -> int | None:
        try:
            await self._adopt_interrupted_spawn()
        except AWSError as exc:
            self.log.warning("Cannot look for the task of an interrupted spawn: %s", exc)
            return None
        if not self.task_arn:
            return 0
        # From the shared watcher: a poll round of every server costs one batched refresh.
        snapshot = await self.task_watcher(self.ecs_gateway()).snapshot(
            self.task_arn, self.poll_interval * 0.9
        )
        if snapshot.stale or not snapshot.known:
            # Never report a running server as dead because AWS was slow or unreachable.
            if not self._poll_error_logged:
                self.log.warning(
                    "Cannot check task %s, assuming it runs: %s", self.task_arn, snapshot.error
                )
                self._poll_error_logged = True
            return None
        self._poll_error_logged = False
        task = snapshot.task
        if task is None:
            return None if not self._missing_too_long() else 1
        if task.get("lastStatus") != "STOPPED":
            return None
        return exit_code(task, self.task_container or self.task_container_name)

    # ----------------------------------------------------------------------------- stop

    async def stop(self, now: bool = False) -> None:
        await self._adopt_interrupted_spawn()
        if not self.task_arn:
            return
        gateway = self.ecs_gateway()
        watcher = self.task_watcher(gateway)
        await gateway.stop_task(self.task_cluster, self.task_arn, "Stopped by JupyterHub")
        deadline = time.monotonic() + (0 if now else self.stop_wait_seconds)
        try:
            while time.monotonic() < deadline:
                snapshot = await watcher.snapshot(self.task_arn, self.startup_poll_interval * 0.9)
                task = snapshot.task
                if snapshot.known and (task is None or task.get("lastStatus") == "STOPPED"):
                    return
                await asyncio.sleep(self.startup_poll_interval)
            if not now:
                self.log.warning(
                    "Task %s was not STOPPED within %ss", self.task_arn, self.stop_wait_seconds
                )
        finally:
            watcher.forget(self.task_arn)
