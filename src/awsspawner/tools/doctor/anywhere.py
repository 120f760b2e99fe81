"""Checks of ECS Anywhere: registered nodes, their SSM agents, placement, addresses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ...endpoints.node_address import Node, build_chain, node_address_candidates
from ...launch.spawn_settings import SpawnSettings
from ..cluster_query import INSTANCE_ID, ExpressionError, matches
from .report import FAIL, OK, WARN, Check, Findings

__all__ = ["AnywhereChecks"]

#: Cluster query language the doctor's reader does not evaluate (it would misread it).
_BEYOND_THE_READER = re.compile(
    r"&&|\|\||[()]|!in\b|!exists|\b(equals|not_equals|matches|agentConnected|agentVersion|"
    r"registeredAt|runningTasksCount|task:group)\b"
)


class AnywhereChecks(Findings):
    """Checks of ECS Anywhere: registered nodes, their SSM agents, placement, addresses."""

    # ------------------------------------------------------------------- ECS Anywhere

    async def _anywhere(self, profile: str, settings: SpawnSettings) -> None:
        region, cluster = settings.aws_region, settings.task_cluster_name
        arns = await self.pages(
            "ecs", region, "ListContainerInstances", "containerInstanceArns", "nextToken",
            cluster=cluster,
        )  # fmt: skip
        nodes = []
        for start in range(0, len(arns), 100):
            answer = await self.call(
                "ecs",
                region,
                "DescribeContainerInstances",
                cluster=cluster,
                containerInstances=arns[start : start + 100],
            )
            nodes += [
                n
                for n in answer.get("containerInstances") or []
                if str(n.get("ec2InstanceId", "")).startswith("mi-")
                # Only nodes ECS would place on: registered, not draining, agent connected.
                and n.get("status") == "ACTIVE"
                and n.get("agentConnected", True)
            ]
        if not nodes:
            self.add(
                Check(
                    FAIL,
                    "ECS Anywhere nodes",
                    f"none registered in {cluster}",
                    "register a machine (ECS Anywhere's install script)",
                    "launch_type",
                    profile,
                )
            )
            return
        ids = [str(n["ec2InstanceId"]) for n in nodes]
        await self._placement(profile, settings, nodes)
        await self._node_addresses(profile, settings, nodes)
        pings: dict[str, str] = {}
        for start in range(0, len(ids), 50):  # the filter takes at most 100 values
            found = await self.pages(
                "ssm", region, "DescribeInstanceInformation", "InstanceInformationList",
                "NextToken",
                Filters=[{"Key": "InstanceIds", "Values": ids[start : start + 50]}],
                MaxResults=50,
            )  # fmt: skip
            for item in found:
                pings[str(item["InstanceId"])] = str(item.get("PingStatus") or "")
        offline = [i for i in ids if pings.get(i) != "Online"]
        if offline:
            self.add(
                Check(
                    WARN if len(offline) < len(ids) else FAIL,
                    "ECS Anywhere SSM agents",
                    ", ".join(f"{i} {pings.get(i) or 'unknown to SSM'}" for i in offline),
                    "start the SSM agent there (the node address resolvers ask SSM)",
                    "launch_type",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    OK, "ECS Anywhere nodes", f"{len(ids)} registered, SSM online", profile=profile
                )
            )

    async def _node_addresses(
        self, profile: str, settings: SpawnSettings, nodes: Sequence[dict[str, Any]]
    ) -> None:
        """Which address resolver would answer for each node now (never ssm-command: it
        runs a command on the node, and the doctor changes nothing)."""
        lookup = self._spawner.endpoint_lookup()
        names = [n for n in lookup.address_resolvers if n != "ssm-command"]
        chain = build_chain(
            names, attribute=lookup.node_address_attribute, ssm_timeout=lookup.ssm_command_timeout
        )

        async def clients(service: str) -> Any:
            return await self.client(service, settings.aws_region)

        for description in list(nodes)[:20]:
            node = Node.from_description(description)
            seen: dict[str, str] = {}
            answer = None
            async for address, resolver in node_address_candidates(
                node, chain, clients, lookup.policy, seen
            ):
                answer = (address, resolver)
                break
            if answer is not None:
                self.add(
                    Check(
                        OK,
                        "node address",
                        f"{node.instance_id}: {answer[0]} (by {answer[1]})",
                        profile=profile,
                    )
                )
                continue
            tried = "; ".join(f"{k}: {v}" for k, v in seen.items()) or "no resolver configured"
            later = (
                " (ssm-command, not tried here, may still answer)"
                if len(names) < len(lookup.address_resolvers)
                else ""
            )
            self.add(
                Check(
                    WARN if later else FAIL,
                    "node address",
                    f"{node.instance_id}: {tried}{later}",
                    "see c.AWSSpawner.address_resolvers in the ECS Anywhere docs",
                    "address_resolvers",
                    profile,
                )
            )

    async def _placement(
        self, profile: str, settings: SpawnSettings, nodes: Sequence[dict[str, Any]]
    ) -> None:
        expressions = [
            str(c.get("expression") or "")
            for c in settings.placement_constraints
            if c.get("type") == "memberOf"
        ]
        if not expressions:
            return
        beyond = [e for e in expressions if _BEYOND_THE_READER.search(e)]
        if beyond:
            self.add(
                Check(WARN, "placement constraints", f"not evaluated here: {beyond[0]}",
                      "the doctor reads attribute comparisons joined by and/or",
                      "placement_constraints", profile)
            )  # fmt: skip
            return
        fitting = []
        for node in nodes:
            attributes = {
                str(a["name"]): str(a.get("value", "")) for a in node.get("attributes") or []
            }
            attributes[INSTANCE_ID] = str(node.get("ec2InstanceId") or "")
            try:
                if all(matches(e, attributes) for e in expressions):
                    fitting.append(attributes[INSTANCE_ID])
            except (ExpressionError, re.error) as exc:
                self.add(
                    Check(
                        WARN,
                        "placement constraints",
                        f"not evaluated here ({exc})",
                        "the doctor reads attribute comparisons joined by and/or; ECS may "
                        "still accept this expression",
                        "placement_constraints",
                        profile,
                    )
                )
                return
        if not fitting:
            self.add(
                Check(
                    FAIL,
                    "placement constraints",
                    f"no registered node satisfies {' and '.join(expressions)}",
                    "fix the expression, or give a node the attribute (aws ecs put-attributes)",
                    "placement_constraints",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    OK,
                    "placement constraints",
                    f"satisfied by {', '.join(fitting)}",
                    profile=profile,
                )
            )
