"""``awsspawner doctor``: check a hub's configuration against the AWS account, read-only.

For the configuration and each of its profiles it asks AWS what a spawn would need, and
reports one line per check: OK, WARN (cannot be known from here, or works with a caveat) or
FAIL (a spawn would fail), what it found, how to fix it, and the ``c.AWSSpawner.<key>``
involved. Nothing is created or changed, and nothing that holds a secret value is read
(DescribeSecret and DescribeParameters, never GetSecretValue or GetParameter; the node address
check never sends an SSM command).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..hub_config import STAND_IN, CommandError, HubConfig
from .anywhere import AnywhereChecks
from .ecs import EcsChecks
from .iam import IamChecks
from .network import NetworkChecks
from .report import FAIL, Check, render
from .storage import StorageChecks

__all__ = ["Check", "Doctor", "render"]


class Doctor(EcsChecks, NetworkChecks, IamChecks, AnywhereChecks, StorageChecks):
    """Runs every check for one configuration (see the module docstring)."""

    def __init__(self, config: HubConfig, *, hub_role_arn: str = "") -> None:
        self.config = config
        self.hub_role_arn = hub_role_arn
        self.checks: list[Check] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._spawner = config.spawner(STAND_IN)  # the user profile_slugs() shows profiles to
        self._cluster_arns: set[str] = set()
        self._cluster_defaults: dict[str, list[dict[str, Any]]] = {}
        self._revision_tags: dict[str, list[dict[str, str]]] = {}

    async def run(self, profiles: Sequence[str]) -> list[Check]:
        targets = []
        for profile in profiles:
            try:
                settings = await self.config.settings(self._spawner, profile)
            except CommandError as exc:
                self.add(Check(FAIL, "configuration", str(exc), "fix it", "", profile))
                continue
            targets.append((profile, settings))
        if not targets:
            return self.checks
        region = targets[0][1].aws_region
        if not await self.guarded("credentials", "", self._identity(region)):
            return self.checks
        for profile, settings in targets:
            cluster = await self.guarded("cluster", profile, self._cluster(profile, settings))
            description = await self.guarded(
                "task definition", profile, self._task_definition(profile, settings)
            )
            if description is not None:
                self._request(profile, settings, description)
            if settings.launch.network != "no-awsvpc" and settings.task_subnets:
                await self.guarded("network", profile, self._network(profile, settings))
            await self.guarded("roles", profile, self._roles(profile, settings, description))
            if settings.launch.is_external and cluster:
                await self.guarded("ECS Anywhere", profile, self._anywhere(profile, settings))
            await self.guarded("storage", profile, self._storage(profile, settings))
        await self.guarded("hub permissions", "", self._hub_role(region, targets))
        return self.checks
