"""One shared view of every task the hub's spawners care about, refreshed in batches.

JupyterHub polls every server every 30 s, and all of them at once when the hub starts; a
DescribeTasks call per server runs out of ECS's read budget (20 per second) at a few hundred
users. Instead, each cluster has one :class:`TaskWatcher` (per hub process and event loop):

* spawners :meth:`~TaskWatcher.watch` the tasks they run and :meth:`~TaskWatcher.forget` the
  ones they stopped;
* :meth:`~TaskWatcher.snapshot` answers from the watcher's cache when it is fresh enough, and
  otherwise joins the next refresh: one refresh describes every task asked about since the
  last one, 100 per call, so a poll round of 1,000 servers costs 10 DescribeTasks calls, and
  concurrent callers (a poll round, a login storm of spawns waiting for RUNNING) share it,
  while spawns waiting for their own tasks do not re-describe every running server;
* after a hub restart the first answers wait for one complete refresh;
* when AWS throttles or cannot be reached, the refresh backs off (exponentially, with jitter,
  up to ``max_backoff``), the last known state is kept and marked stale, and the problem is
  logged once; a task is never reported stopped because AWS did not answer;
* an unexpected error inside a refresh is logged with its traceback, and the next caller
  starts a new refresh: the watcher cannot die.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from ..errors import AWSError
from .gateway import ECSGateway
from .tasks import SPOT_STOP_CODES, trimmed

__all__ = ["Snapshot", "TaskWatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What the watcher knows of one task.

    ``task`` is the latest description (None: ECS does not know the task, or no refresh has
    succeeded yet); ``known`` says whether a refresh including this task ever succeeded;
    ``stale`` that the latest refresh failed and the answer may be old."""

    task: dict[str, Any] | None
    known: bool
    stale: bool
    error: AWSError | None = None


class TaskWatcher:
    """See the module docstring. One per (gateway, cluster) and event loop."""

    def __init__(
        self,
        gateway: ECSGateway,
        cluster: str,
        *,
        max_backoff: float = 60.0,
    ) -> None:
        self.gateway = gateway
        self.cluster = cluster
        self.max_backoff = max_backoff
        self.refreshes = 0  # completed refreshes, for tests and the benchmark
        self._watched: set[str] = set()
        self._tasks: dict[str, dict[str, Any]] = {}
        self._known: set[str] = set()
        self._reclaimed: set[str] = set()  # Spot interruptions already logged
        self._refreshed_at: dict[str, float] = {}
        self._inflight: asyncio.Future[None] | None = None
        self._pending: set[str] = set()
        self._starting: set[str] = set()  # described with every refresh until RUNNING
        self._failures = 0
        self._backoff_until = 0.0
        self._last_error: AWSError | None = None

    # ----------------------------------------------------------------------- watching

    def watch(self, arn: str, *, starting: bool = False) -> None:
        """Follow ``arn``; ``starting``: describe it with every refresh until it runs."""
        self._watched.add(arn)
        if starting:
            self._starting.add(arn)

    def forget(self, arn: str) -> None:
        self._watched.discard(arn)
        self._starting.discard(arn)
        self._tasks.pop(arn, None)
        self._known.discard(arn)
        self._refreshed_at.pop(arn, None)
        self._reclaimed.discard(arn)

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watched)

    # ----------------------------------------------------------------------- answering

    async def snapshot(self, arn: str, max_age: float, *, starting: bool = False) -> Snapshot:
        """The task as of at most ``max_age`` seconds ago, refreshing (shared) if needed.

        ``starting``: a spawn waits for this task; it rides along with every refresh until it
        runs, so concurrent spawns share their DescribeTasks calls. During a backoff after AWS
        errors, the last known state is returned, marked stale."""
        self.watch(arn, starting=starting)
        if not self._fresh(arn, max_age) and time.monotonic() >= self._backoff_until:
            await self._refresh(arn, max_age)
        stale = self._last_error is not None and not self._fresh(arn, max_age)
        return Snapshot(
            task=self._tasks.get(arn),
            known=arn in self._known,
            stale=stale,
            error=self._last_error if stale else None,
        )

    def _fresh(self, arn: str, max_age: float) -> bool:
        return time.monotonic() - self._refreshed_at.get(arn, float("-inf")) <= max_age

    async def _refresh(self, arn: str, max_age: float) -> None:
        """Describe ``arn`` with every other task asked about meanwhile, in one refresh."""
        self._pending.add(arn)
        # One loop turn first: every caller scheduled now (a poll round) joins this refresh.
        await asyncio.sleep(0)
        while arn in self._pending:
            if self._fresh(arn, max_age):  # a refresh that was already running covered it
                self._pending.discard(arn)
                return
            if self._inflight is None or self._inflight.done():
                batch, self._pending = self._pending | self._starting, set()
                self._inflight = asyncio.ensure_future(self._describe(batch))
            # shield: one caller cancelled (a spawn timing out) must not cancel the others'
            await asyncio.shield(self._inflight)

    async def _describe(self, batch: set[str]) -> None:
        arns = sorted(batch & self._watched)
        if not arns:
            return
        started = time.monotonic()
        try:
            result = await self.gateway.describe_tasks(self.cluster, arns)
        except AWSError as exc:
            self._failed(exc)
            return
        except Exception:  # a bug must not stop every spawner from learning anything again
            log.exception(
                "Task watcher refresh of cluster %s failed; the next one retries", self.cluster
            )
            self._failed(
                AWSError("unexpected error in the task watcher", operation="DescribeTasks")
            )
            return
        if self._failures:
            log.info("Task watcher for %s reaches ECS again after %d failed refreshes",
                     self.cluster, self._failures)  # fmt: skip
        self._failures = 0
        self._backoff_until = 0.0
        self._last_error = None
        self.refreshes += 1
        for arn in arns:
            if arn not in self._watched:
                continue  # forgotten while the call was in flight
            task = result.tasks.get(arn)
            if task is None:
                self._tasks.pop(arn, None)
            else:
                self._tasks[arn] = task = trimmed(task)
                if task.get("lastStatus") in ("RUNNING", "STOPPED"):
                    self._starting.discard(arn)
                if task.get("stopCode") in SPOT_STOP_CODES and arn not in self._reclaimed:
                    self._reclaimed.add(arn)
                    log.warning(
                        "AWS is reclaiming the Spot capacity of task %s (stopCode %s, %s): "
                        "the server stops within two minutes",
                        arn,
                        task.get("stopCode"),
                        task.get("lastStatus"),
                    )
            self._known.add(arn)
            self._refreshed_at[arn] = started

    def _failed(self, exc: AWSError) -> None:
        self._failures += 1
        self._last_error = exc
        delay = min(self.max_backoff, 2 ** min(self._failures - 1, 10))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter
        self._backoff_until = time.monotonic() + delay
        if self._failures == 1:
            log.warning(
                "Cannot refresh tasks of cluster %s (%s); keeping the last known state and "
                "retrying with backoff",
                self.cluster,
                exc,
            )
