"""Where does a running task's notebook server listen? An ordered chain of resolvers.

Each resolver is a small named class whose ``resolve`` returns an :class:`Endpoint` or None
("not mine, ask the next one"). The first answer wins and the resolver's name is logged, so a
wrong address can be traced to the step that produced it. This module has the resolvers the
AWS launch types need:

* :class:`AwsvpcResolver`: awsvpc tasks (all of Fargate): the ENI's private IPv4 address and
  the server's own port.
* :class:`NetworkBindingsResolver`: bridge tasks: the hostPort ECS mapped to the notebook's
  container port, on the container instance's address.
* :class:`HostNetworkResolver`: host-network tasks: the server's port on the instance.

The instance's address comes from the binding's ``bindIP`` when it is a real address, else from
EC2 DescribeInstances for the container instance's ``i-`` id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import EndpointNotFoundError
from .gateway import ECSGateway, translate_aws_error
from .taskdef import TaskDefinitionInfo

__all__ = [
    "AwsvpcResolver",
    "Endpoint",
    "EndpointResolver",
    "HostNetworkResolver",
    "NetworkBindingsResolver",
    "ResolveContext",
    "default_resolvers",
    "resolve_endpoint",
]

log = logging.getLogger(__name__)

_UNSPECIFIED = {"", "0.0.0.0", "::"}  # noqa: S104 - compared against, never bound


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    resolver: str


@dataclass
class ResolveContext:
    """What resolvers may look at: the task, its revision and how to ask AWS more."""

    task: Mapping[str, Any]
    taskdef: TaskDefinitionInfo
    container_name: str
    port: int
    cluster: str
    gateway: ECSGateway
    ec2_client: Callable[[], Awaitable[Any]]

    @property
    def container(self) -> Mapping[str, Any]:
        for container in self.task.get("containers") or []:
            if container.get("name") == self.container_name:
                return container
        return {}

    async def instance_address(self) -> str | None:
        """Private IPv4 of the EC2 instance behind the task's container instance, if any."""
        arn = self.task.get("containerInstanceArn")
        if not arn:
            return None
        found = await self.gateway.describe_container_instances(self.cluster, [arn])
        instance_id = str(found.get(arn, {}).get("ec2InstanceId") or "")
        if not instance_id.startswith("i-"):
            return None  # ECS Anywhere (mi-) nodes have no EC2 instance
        client = await self.ec2_client()
        try:
            answer = await client.describe_instances(InstanceIds=[instance_id])
        except Exception as exc:
            raise translate_aws_error(exc, operation="DescribeInstances") from None
        for reservation in answer.get("Reservations") or []:
            for instance in reservation.get("Instances") or []:
                if instance.get("PrivateIpAddress"):
                    return str(instance["PrivateIpAddress"])
        return None


class EndpointResolver(Protocol):
    name: str

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None: ...


class AwsvpcResolver:
    name = "awsvpc-eni"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        for attachment in ctx.task.get("attachments") or []:
            if attachment.get("type") != "ElasticNetworkInterface":
                continue
            for detail in attachment.get("details") or []:
                if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                    return Endpoint(str(detail["value"]), ctx.port, self.name)
        return None


class NetworkBindingsResolver:
    name = "network-bindings"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        if ctx.taskdef.network_mode != "bridge":
            return None
        for binding in ctx.container.get("networkBindings") or []:
            if binding.get("containerPort") != ctx.port or not binding.get("hostPort"):
                continue
            ip = str(binding.get("bindIP") or "")
            if ip in _UNSPECIFIED:
                ip = await ctx.instance_address() or ""
            if ip:
                return Endpoint(ip, int(binding["hostPort"]), self.name)
        return None


class HostNetworkResolver:
    name = "host-network"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        if ctx.taskdef.network_mode != "host":
            return None
        ip = await ctx.instance_address()
        return Endpoint(ip, ctx.port, self.name) if ip else None


def default_resolvers() -> list[EndpointResolver]:
    return [NetworkBindingsResolver(), AwsvpcResolver(), HostNetworkResolver()]


def _why_not(ctx: ResolveContext, resolver: EndpointResolver) -> str:
    """A short note of what ``resolver`` had to work with, for the error message."""
    if isinstance(resolver, AwsvpcResolver):
        return "no ENI address" if ctx.taskdef.network_mode == "awsvpc" else "not awsvpc"
    if isinstance(resolver, NetworkBindingsResolver):
        ports = [b.get("containerPort") for b in ctx.container.get("networkBindings") or []]
        if ctx.taskdef.network_mode != "bridge":
            return "not bridge"
        return f"no binding for port {ctx.port} (bindings for {ports})"
    if isinstance(resolver, HostNetworkResolver):
        return "not host" if ctx.taskdef.network_mode != "host" else "no instance address"
    return "no answer"


async def resolve_endpoint(ctx: ResolveContext, resolvers: Sequence[EndpointResolver]) -> Endpoint:
    """Ask each resolver in order; the first endpoint wins. EndpointNotFoundError otherwise."""
    seen: dict[str, str] = {}
    for resolver in resolvers:
        endpoint = await resolver.resolve(ctx)
        if endpoint is not None:
            log.info(
                "Task %s listens on %s:%s (found by %s)",
                ctx.task.get("taskArn"),
                endpoint.ip,
                endpoint.port,
                resolver.name,
            )
            return endpoint
        seen[resolver.name] = _why_not(ctx, resolver)
    raise EndpointNotFoundError(str(ctx.task.get("taskArn")), seen)
