"""The reaper's second job with ``api_token_source = 's3'``: token files no server owns.

The spawner deletes a server's token file when the server stops; a file is left behind when
that delete failed, or the hub died, or a user was deleted while their server ran. A token
file holds a live credential until the hub forgets the token, so the reaper deletes, each
round, every file under this hub's folder that belongs to no server the hub has as ready or
pending, once it is older than the grace period (a spawn writes its file just before RunTask,
while the hub already shows the server pending). The key of each server the hub has is built
as the spawner builds it (:func:`awsspawner.launch.token_file.token_file_for`) and compared:
keys are never parsed back into names. Deleting the file of a running server would not hurt
it (the ECS agent read it when the task started), so the rule can be this simple.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import aws_call
from ..launch.token_file import hub_prefix, token_file_for
from .orphans import HubServers

__all__ = ["SweepSummary", "TokenSweep"]

log = logging.getLogger("awsspawner.reaper")


@dataclass
class SweepSummary:
    files: int = 0
    deleted: int = 0

    def line(self, dry_run: bool) -> str:
        verb = "would delete" if dry_run else "deleted"
        return f"token files: {self.files} of this hub; {self.deleted} {verb}"


@dataclass(frozen=True)
class TokenSweep:
    """Where this hub's token files are (``c.AWSSpawner.api_token_bucket`` and
    ``api_token_key_prefix``), and the S3 client to use."""

    client: Any
    bucket: str
    prefix: str
    hub_id: str

    def expected(self, servers: HubServers) -> set[str]:
        return {
            token_file_for(
                bucket=self.bucket,
                prefix=self.prefix,
                region="",
                hub_id=self.hub_id,
                username=server.user,
                server_name=server.name,
            ).key
            for server in servers.active.values()
        }

    async def run(
        self, servers: HubServers, *, grace: float, now: float, dry_run: bool = False
    ) -> SweepSummary:
        keep = self.expected(servers)
        summary = SweepSummary()
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=hub_prefix(self.prefix, self.hub_id)
        )
        listing = pages.__aiter__()
        while True:
            try:
                page = await aws_call("ListObjectsV2", listing.__anext__())
            except StopAsyncIteration:
                break
            for item in page.get("Contents") or []:
                key = str(item["Key"])
                if not key.endswith(".env"):
                    continue
                summary.files += 1
                age = now - item["LastModified"].timestamp()
                if key in keep or age < grace:
                    continue
                summary.deleted += 1
                if dry_run:
                    log.info(
                        "would delete token file s3://%s/%s: no server owns it", self.bucket, key
                    )
                    continue
                await aws_call(
                    "DeleteObject", self.client.delete_object(Bucket=self.bucket, Key=key)
                )
                log.info("deleted token file s3://%s/%s: no server owns it", self.bucket, key)
        log.info(summary.line(dry_run))
        return summary
