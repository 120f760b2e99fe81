"""An asyncio token bucket: callers wait for a token instead of being throttled by AWS.

ECS refills its per-account buckets at fixed rates (:data:`REGISTER_TASK_DEFINITION`,
:data:`RUN_AND_STOP_TASK`: the figures of ECS's API request throttling page, kept here only).
A bucket in front of an action, shared by every spawner of the hub, makes a login storm queue
here instead of spending botocore's retries on ThrottlingException.
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

__all__ = ["REGISTER_TASK_DEFINITION", "RUN_AND_STOP_TASK", "BucketLimits", "TokenBucket"]


class BucketLimits(NamedTuple):
    """One of ECS's token buckets: ``rate`` tokens per second, ``burst`` at most saved up."""

    rate: float
    burst: int


#: "Task definition modify" (RegisterTaskDefinition, DeregisterTaskDefinition).
REGISTER_TASK_DEFINITION = BucketLimits(rate=1.0, burst=20)
#: "Cluster resource modify" (RunTask, StopTask, PutAttributes, ...).
RUN_AND_STOP_TASK = BucketLimits(rate=40.0, burst=100)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up. ``acquire()`` waits for one."""

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock: asyncio.Lock | None = None
        #: Callers inside acquire() right now (waiting for the lock or for a token).
        self.waiting = 0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        # The lock keeps waiters in arrival order; it is made lazily on the running loop.
        if self._lock is None:
            self._lock = asyncio.Lock()
        self.waiting += 1
        try:
            async with self._lock:
                self._refill()
                if self._tokens < 1:
                    await asyncio.sleep((1 - self._tokens) / self.rate)
                    self._refill()
                self._tokens -= 1
        finally:
            self.waiting -= 1

    @property
    def delay(self) -> float:
        """Seconds a caller arriving now would wait for its token (0: none)."""
        now = time.monotonic()
        tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        missing = self.waiting + 1 - tokens
        return max(0.0, missing / self.rate)
