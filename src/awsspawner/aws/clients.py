"""The shared aiobotocore clients: one per service, region, credentials, endpoint and loop.

Every spawner of a hub asks here for its ECS (EC2, SSM) client and gets the same object as
all others with the same credentials: one connection pool, one retry quota, one adaptive
rate limiter for the whole hub. A new client per call costs about six times a reused one and
throws the connection pool away.

aiobotocore clients belong to the event loop that created them, so the cache is kept per
loop. :func:`close_shared_clients` closes the current loop's clients (tests call it; so does
the hub's exit, through an ``atexit`` hook registered with the first client, for loops that
are still open then).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from . import connections, parsing, redaction
from .auth import AWSSpawnerAuthentication
from .warmup import warm_client

__all__ = [
    "ClientSettings",
    "close_shared_clients",
    "freeze_heap_once",
    "loop_shared",
    "shared_client",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ClientSettings:
    """botocore client configuration; part of the cache key (see the docs' retry plan)."""

    retry_mode: str = "standard"
    max_attempts: int = 3
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_pool_connections: int = 100

    def aio_config(self) -> AioConfig:
        return AioConfig(
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_pool_connections=self.max_pool_connections,
        )


def configured_endpoint(service: str) -> str | None:
    """The endpoint the standard environment variables name for ``service``, if any."""
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
    return os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL") or None


class _LoopClients:
    """The clients (and sessions) of one event loop."""

    def __init__(self) -> None:
        self.stack = contextlib.AsyncExitStack()
        self.clients: dict[tuple[Any, ...], Any] = {}
        self.sessions: dict[tuple[Any, ...], AioSession] = {}
        self.objects: dict[tuple[Any, ...], Any] = {}
        self.lock = asyncio.Lock()


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
    weakref.WeakKeyDictionary()
)
_atexit_registered = False


def _registry() -> _LoopClients:
    loop = asyncio.get_running_loop()
    registry = _per_loop.get(loop)
    if registry is None:
        registry = _per_loop[loop] = _LoopClients()
        _register_atexit()
    return registry


def loop_shared(key: tuple[Any, ...], factory: Callable[[], T]) -> T:
    """One object per ``key`` on the running loop (gateways, watchers), made by ``factory``.

    Dropped with the loop's clients by :func:`close_shared_clients`.
    """
    registry = _registry()
    if key not in registry.objects:
        registry.objects[key] = factory()
    return cast(T, registry.objects[key])


async def shared_client(
    service: str,
    *,
    auth: AWSSpawnerAuthentication,
    region: str,
    settings: ClientSettings | None = None,
) -> Any:
    """The shared client for ``service``; created on first use on the running loop."""
    settings = settings or ClientSettings()
    registry = _registry()
    endpoint = configured_endpoint(service)
    credentials = auth.cache_key()
    key = (service, region, credentials, endpoint, settings)
    client = registry.clients.get(key)
    if client is not None:
        return client
    async with registry.lock:  # two spawns racing must not build two clients
        client = registry.clients.get(key)
        if client is None:
            session = registry.sessions.get((credentials, region))
            if session is None:
                session = await auth.create_session(region)
                parsing.install(session)
                connections.install()
                registry.sessions[(credentials, region)] = session
            # botocore reads and parses the service's JSON models when a client is made: do
            # that in a thread, so the hub's event loop does not stall for ~100 ms.
            warm_up = getattr(session, "warm_up_loader_caches", None)  # aiobotocore >= 2.19
            if warm_up is not None:
                await asyncio.to_thread(warm_up, service)
            create: Any = session.create_client  # typed per service literal; ours is a str
            client = await registry.stack.enter_async_context(
                create(
                    service,
                    region_name=region,
                    endpoint_url=endpoint,
                    config=settings.aio_config(),
                )
            )
            # Build what botocore builds lazily at each operation's first call, in a thread,
            # before anyone else can use the client (see warmup).
            await asyncio.get_running_loop().run_in_executor(None, warm_client, client, service)
            registry.clients[key] = client
            redaction.install()  # botocore made more loggers while building the client
    return client


_frozen_stages: set[str] = set()


def freeze_heap_once(stage: str) -> bool:
    """``gc.freeze()`` once per ``stage`` in this process (``gc_freeze_after_setup``); True if
    it froze now. Freezing is cheap (no collection); see the trait's help for the trade."""
    if stage in _frozen_stages:
        return False
    _frozen_stages.add(stage)
    # No gc.collect() first: over the whole startup heap it would itself stall the loop for
    # ~150 ms. Garbage cycles alive right now are frozen with the rest: once, and small.
    gc.freeze()
    return True


async def close_shared_clients() -> None:
    """Close every shared client of the running loop. Safe to call more than once."""
    registry = _per_loop.pop(asyncio.get_running_loop(), None)
    if registry is not None:
        await registry.stack.aclose()


def _close_at_exit() -> None:
    for loop in list(_per_loop):
        if loop.is_closed() or loop.is_running():
            continue
        with contextlib.suppress(Exception):
            registry = _per_loop.pop(loop)
            loop.run_until_complete(registry.stack.aclose())


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_close_at_exit)
        _atexit_registered = True
