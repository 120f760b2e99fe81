"""Creating users' EFS access points, once each, with the hub's shared EFS client.

``CreateAccessPoint`` is the lookup: it is sent with the home's ClientToken (see
:mod:`awsspawner.launch.homes`), and EFS answers either with a new access point or with
``AccessPointAlreadyExists`` carrying the id of the one that token made before. So a hub
finds a user's access point without DescribeAccessPoints listing a file system's (up to
10,000) access points, and concurrent first spawns, other hubs and restarts never make two.
Within one hub process the id is remembered, and concurrent requests for one home share one
call. Access points are never deleted here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

from ..errors import AWSError, aws_call
from ..launch.homes import HomeDirectory

__all__ = ["AccessPointStore"]

log = logging.getLogger(__name__)

#: How long a new access point may stay "creating" before the spawn gives up on it.
AVAILABLE_WITHIN_SECONDS = 60.0


class AccessPointStore:
    """Finds or creates the access point of each home. One per hub, shared by spawners."""

    def __init__(self, client: Callable[[], Awaitable[Any]], *, poll_seconds: float = 1.0) -> None:
        self._client = client
        self.poll_seconds = poll_seconds
        self._known: dict[str, str] = {}  # ClientToken -> AccessPointId
        self._pending: dict[str, asyncio.Future[str]] = {}

    def known(self, home: HomeDirectory) -> str | None:
        """The access point id of ``home`` if this process has seen it (no AWS call)."""
        return self._known.get(home.client_token)

    async def access_point_for(self, home: HomeDirectory) -> str:
        """The id of ``home``'s access point, created on first use, available to mount."""
        token = home.client_token
        if token in self._known:
            return self._known[token]
        pending = self._pending.get(token)
        if pending is None:
            pending = asyncio.ensure_future(self._create(home))
            self._pending[token] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(token, None))
        # shield: a cancelled spawn must not cancel the creation another spawn waits for.
        access_point = await asyncio.shield(pending)
        self._known[token] = access_point
        return access_point

    async def _create(self, home: HomeDirectory) -> str:
        client = await aws_call("CreateAccessPoint", self._client())

        async def create() -> tuple[str, str]:
            try:
                answer = await client.create_access_point(**home.create_request())
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "AccessPointAlreadyExists":
                    raise
                # The token was used before (a concurrent spawn, another hub, before a
                # restart): EFS names the access point it made then.
                existing = str(exc.response.get("AccessPointId") or "")
                if not existing:
                    raise
                return existing, ""
            return str(answer["AccessPointId"]), str(answer.get("LifeCycleState") or "")

        access_point, state = await aws_call("CreateAccessPoint", create())
        if state:
            log.info(
                "Created EFS access point %s for %s on %s",
                access_point,
                home.path,
                home.file_system_id,
            )
        if state != "available":
            await self._wait_until_available(client, access_point)
        return access_point

    async def _wait_until_available(self, client: Any, access_point: str) -> None:
        """A new access point is "creating" for a moment; a task cannot mount it until it is
        "available"."""
        deadline = time.monotonic() + AVAILABLE_WITHIN_SECONDS
        while True:
            answer = await aws_call(
                "DescribeAccessPoints", client.describe_access_points(AccessPointId=access_point)
            )
            found = answer.get("AccessPoints") or []
            state = str(found[0].get("LifeCycleState") or "") if found else "missing"
            if state == "available":
                return
            if state in ("deleting", "deleted", "error", "missing") or time.monotonic() > deadline:
                raise AWSError(
                    f"EFS access point {access_point} is {state}, not available",
                    operation="DescribeAccessPoints",
                    code="AccessPointNotAvailable",
                )
            await asyncio.sleep(self.poll_seconds)
