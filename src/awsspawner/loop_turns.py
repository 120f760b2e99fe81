"""A fair share of each event-loop iteration for a burst of spawns, polls or stops.

asyncio runs, in one iteration, every callback that was ready when the iteration began. When
a login storm starts a hundred spawns at once, each spawn's first steps (settings, the RunTask
request, botocore's serialization and signing) are ready together: a millisecond or two each,
they hold the loop for 100-200 ms, and everything else the hub does (its web requests, the
proxy's API, other users' pages) waits that long. :func:`turn` lets at most
:data:`MAX_PER_ITERATION` callers through per iteration; the others wait for a later one, in
arrival order. The work is the same and so is the total time; the longest stall is a few
milliseconds times :data:`MAX_PER_ITERATION` instead of a few milliseconds times the burst.
"""

from __future__ import annotations

import asyncio
import collections
import weakref

__all__ = ["MAX_PER_ITERATION", "turn"]

#: Callers let through per loop iteration.
MAX_PER_ITERATION = 4


class _Turns:
    """The turns of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.used = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.reset_scheduled = False

    def _schedule_reset(self) -> None:
        if not self.reset_scheduled:
            # call_soon from inside an iteration runs in the next one: a new share.
            self.loop.call_soon(self._reset)
            self.reset_scheduled = True

    def take(self) -> bool:
        self._schedule_reset()
        if self.used < MAX_PER_ITERATION and not self.waiting:
            self.used += 1
            return True
        return False

    def _reset(self) -> None:
        self.reset_scheduled = False
        self.used = 0
        # Those let through now run in the next iteration, which they count against.
        while self.waiting and self.used < MAX_PER_ITERATION:
            waiter = self.waiting.popleft()
            if not waiter.done():  # a cancelled waiter gives its turn away
                waiter.set_result(None)
                self.used += 1
        if self.waiting or self.used:
            self._schedule_reset()


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Turns] = (
    weakref.WeakKeyDictionary()
)


async def turn() -> None:
    """Return in this iteration if it has a share left, else in a later one (in order)."""
    loop = asyncio.get_running_loop()
    turns = _per_loop.get(loop)
    if turns is None:
        turns = _per_loop[loop] = _Turns(loop)
    if turns.take():
        return
    waiter: asyncio.Future[None] = loop.create_future()
    turns.waiting.append(waiter)
    await waiter
