"""New connections to AWS are opened a few at a time, so a login storm cannot stall the loop.

A fresh hub meeting a login storm sends its first hundred calls at once, and aiohttp opens a
connection for each (the pool holds up to ``c.AWSSpawner.aws_max_pool_connections``). Each
opening runs a little code on the event loop (a socket, a non-blocking connect, the
transport), all of it in the same loop iteration: measured with the benchmark against the
emulator, a hundred of them held the loop for 150-200 ms. :func:`install` wraps the
connection opening of aiobotocore's connector class so that at most :data:`MAX_OPENING`
are under way at once per event loop; the others wait their turn (a few milliseconds each
against AWS) instead of piling into one iteration. Reused pooled connections are untouched.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiobotocore import httpsession

__all__ = ["MAX_OPENING", "install", "paced"]

#: Connections being opened at once, per event loop.
MAX_OPENING = 8

_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _gate() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(MAX_OPENING)
    return gate


def install() -> None:
    """Pace the opening of aiobotocore's connections (idempotent)."""
    # aiobotocore's type stubs leave out its connector class.
    connector: Any = getattr(httpsession, "_ProxySSLTCPConnector")  # noqa: B009
    if getattr(connector, "_awsspawner_paced", False):
        return
    connector._create_connection = paced(connector._create_connection)
    connector._awsspawner_paced = True


def paced(opening: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``opening`` (a connector's ``_create_connection``), at most MAX_OPENING at once."""

    async def _create_connection(self: Any, req: Any, traces: Any, timeout: Any) -> Any:
        async with _gate():
            return await opening(self, req, traces, timeout)

    return _create_connection
