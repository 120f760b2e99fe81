"""Checks of the tasks' network: subnets, security groups, the notebook port."""

from __future__ import annotations

from typing import Any

from ...errors import AWSError
from ...launch.spawn_settings import SpawnSettings
from .report import FAIL, OK, WARN, Check, Findings, code_of

__all__ = ["NetworkChecks"]


class NetworkChecks(Findings):
    """Checks of the tasks' network: subnets, security groups, the notebook port."""

    # ------------------------------------------------------------------------ network

    async def _network(self, profile: str, settings: SpawnSettings) -> None:
        region = settings.aws_region
        vpcs: dict[str, str] = {}
        try:
            subnets = await self.call(
                "ec2", region, "DescribeSubnets", SubnetIds=list(settings.task_subnets)
            )
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "subnets",
                    f"{', '.join(settings.task_subnets)}: {code_of(exc)}",
                    "name subnets of this account and region",
                    "task_subnets",
                    profile,
                )
            )
            return
        for subnet in subnets.get("Subnets") or []:
            vpcs[subnet["SubnetId"]] = subnet["VpcId"]
        groups: list[dict[str, Any]] = []
        if settings.task_security_groups:
            try:
                answer = await self.call(
                    "ec2",
                    region,
                    "DescribeSecurityGroups",
                    GroupIds=list(settings.task_security_groups),
                )
                groups = list(answer.get("SecurityGroups") or [])
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "security groups",
                        f"{', '.join(settings.task_security_groups)}: {code_of(exc)}",
                        "name security groups of this account and region",
                        "task_security_groups",
                        profile,
                    )
                )
                return
        for group in groups:
            vpcs[group["GroupId"]] = group["VpcId"]
        if len(set(vpcs.values())) > 1:
            self.add(
                Check(
                    FAIL,
                    "subnets and security groups",
                    "not in one VPC: " + ", ".join(f"{k} in {v}" for k, v in sorted(vpcs.items())),
                    "use subnets and security groups of the same VPC",
                    "task_subnets",
                    profile,
                )
            )
            return
        self.add(
            Check(
                OK,
                "subnets and security groups",
                f"all in {next(iter(vpcs.values()), '?')}",
                profile=profile,
            )
        )
        port = int(self._spawner.port)
        allowed = any(
            permission.get("IpProtocol") == "-1"
            or (
                permission.get("IpProtocol") in ("tcp", "6")
                and permission.get("FromPort", 0) <= port <= permission.get("ToPort", -1)
            )
            for group in groups
            for permission in group.get("IpPermissions") or []
        )
        if not allowed:
            self.add(
                Check(
                    WARN,
                    "notebook port",
                    f"no inbound rule of the security groups admits "
                    f"port {port}: the hub cannot reach servers unless it is inside them",
                    f"allow TCP {port} from the hub's security group",
                    "task_security_groups",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    WARN,
                    "notebook port",
                    f"an inbound rule admits port {port}; whether "
                    "the hub's address is among its sources cannot be known from here",
                    profile=profile,
                )
            )
