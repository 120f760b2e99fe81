"""The reaper's report of homes whose users the hub no longer has.

Each user's home revision (``<family>-home-<hash>``, tagged with the hub and the user) and
EFS access point outlive the user: deleting a user in JupyterHub deletes nothing in AWS. The
reaper never deletes storage; each round it lists the ACTIVE home revisions of this hub and
names those of users the hub does not have, so an administrator can decide (``awsspawner
homes forget USER`` removes the access point and revisions, never the files).

Cheap per round: ListTaskDefinitions (100 ARNs a page) and one DescribeTaskDefinition per home
family the first time its newest revision is seen (revisions are immutable: their tags are
remembered by ARN).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..aws.paging import all_pages
from ..errors import aws_call
from ..launch.tags import TAG_HUB, TAG_USER, escape_tag_value, task_tags
from ..launch.task_definitions import is_home_family
from .orphans import HubServers

__all__ = ["HomeReport"]

log = logging.getLogger("awsspawner.reaper")

#: DescribeTaskDefinition calls in flight at once (ECS's read rate is shared with the hub).
_CONCURRENT = 4


class HomeReport:
    """Finds the home revisions of this hub whose users are gone (see the module docstring)."""

    def __init__(self, client: Callable[[], Awaitable[Any]], hub_id: str) -> None:
        self._client = client
        self.hub_tag = escape_tag_value(hub_id)
        self._tags: dict[str, dict[str, str]] = {}  # revision ARN -> its tags

    async def _active_home_revisions(self, client: Any) -> dict[str, str]:
        """The newest ACTIVE revision of each home family: family -> ARN."""
        newest: dict[str, tuple[int, str]] = {}

        async def listing(**params: Any) -> dict[str, Any]:
            return await aws_call("ListTaskDefinitions", client.list_task_definitions(**params))

        arns = await all_pages(listing, "taskDefinitionArns", status="ACTIVE", maxResults=100)
        for arn in arns:
            family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
            if is_home_family(family) and int(revision) > newest.get(family, (0, ""))[0]:
                newest[family] = (int(revision), arn)
        return {family: arn for family, (_, arn) in newest.items()}

    async def run(self, servers: HubServers) -> list[tuple[str, str]]:
        """(user, revision ARN) of every home revision of this hub whose user is gone; each
        logged once per round, with what to do about it."""
        client = await self._client()
        revisions = await self._active_home_revisions(client)
        limit = asyncio.Semaphore(_CONCURRENT)

        async def tags_of(arn: str) -> None:
            async with limit:
                answer = await aws_call(
                    "DescribeTaskDefinition",
                    client.describe_task_definition(taskDefinition=arn, include=["TAGS"]),
                )
            self._tags[arn] = task_tags({"tags": answer.get("tags")})

        await asyncio.gather(*(tags_of(a) for a in revisions.values() if a not in self._tags))
        gone = []
        for arn in sorted(revisions.values()):
            tags = self._tags.get(arn, {})
            user = tags.get(TAG_USER)
            if tags.get(TAG_HUB) == self.hub_tag and user and user not in servers.users:
                gone.append((user, arn))
        for user, arn in gone:
            log.info(
                "home revision %s belongs to user %r, whom the hub no longer has; "
                "`awsspawner homes forget` removes it and the user's access point (never files)",
                arn,
                user,
            )
        log.info(
            "reaper home report: %d home revisions of this hub, %d of users the hub no longer has",
            sum(
                1 for a in revisions.values() if self._tags.get(a, {}).get(TAG_HUB) == self.hub_tag
            ),
            len(gone),
        )
        return gone
