"""An asyncio token bucket: callers wait for a token instead of being throttled by AWS.

ECS refills its per-account buckets at fixed rates (RegisterTaskDefinition: 1 per second,
burst 20; RunTask/StopTask: 40 per second, burst 100). A bucket in front of an action, shared
by every spawner of the hub, makes a login storm queue here instead of spending botocore's
retries on ThrottlingException.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["TokenBucket"]


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

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        # The lock keeps waiters in arrival order; it is made lazily on the running loop.
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
