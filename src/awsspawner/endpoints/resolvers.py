"""Where does a running task's notebook server listen? An ordered chain of resolvers.

Each endpoint resolver is a small named class whose ``resolve`` returns an :class:`Endpoint`
or None ("not mine, ask the next one"); the first answer wins and its name is logged:

* :class:`NetworkBindingsResolver`: bridge tasks: the hostPort ECS mapped to the notebook's
  container port, on the binding's bindIP or else the node's address;
* :class:`AwsvpcResolver`: awsvpc tasks (all of Fargate): the ENI's private IPv4 address (or,
  in an IPv6-only subnet, its IPv6 address) and the server's own port;
* :class:`HostNetworkResolver`: host-network tasks: the server's port on the node's address.

The node's address comes from the node-address chain (:mod:`awsspawner.endpoints.node_address`). A
candidate the hub cannot reach (no route, no answer; a refused connection proves the host is
there) is dropped from the cache and the chain goes on. When nothing works the error lists
what every resolver saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..aws.gateway import ECSGateway
from ..errors import EndpointNotFoundError
from ..launch.task_definitions import TaskDefinitionInfo
from .node_address import (
    AddressPolicy,
    ClientFactory,
    Node,
    NodeAddressCache,
    NodeAddressSource,
    node_address_candidates,
)

__all__ = [
    "AwsvpcResolver",
    "Endpoint",
    "EndpointResolver",
    "HostNetworkResolver",
    "NetworkBindingsResolver",
    "ResolveContext",
    "default_resolvers",
    "resolve_endpoint",
    "tcp_reachable",
]

log = logging.getLogger(__name__)

_UNSPECIFIED = {"", "0.0.0.0", "::"}  # noqa: S104 - compared against, never bound

Probe = Callable[[str, int], Awaitable[bool]]


async def tcp_reachable(ip: str, port: int, timeout: float = 2.0) -> bool:
    """Can the hub reach ``ip``? An open or a refused port both say the host is there."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout)
    except ConnectionRefusedError:
        return True
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    return True


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    resolver: str

    def url(self, scheme: str) -> str:
        """The server's URL as the hub's proxy reaches it (an IPv6 address in brackets)."""
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{scheme}://{host}:{self.port}"


@dataclass
class ResolveContext:
    """What resolvers may look at: the task, its revision and how to ask AWS more."""

    task: Mapping[str, Any]
    taskdef: TaskDefinitionInfo
    container_name: str
    port: int
    cluster: str
    gateway: ECSGateway
    clients: ClientFactory
    chain: Sequence[NodeAddressSource] = ()
    policy: AddressPolicy = field(default_factory=AddressPolicy)
    cache: NodeAddressCache = field(default_factory=NodeAddressCache)
    probe: Probe | None = None
    seen: dict[str, str] = field(default_factory=dict)
    _node: Node | None = None

    @property
    def container(self) -> Mapping[str, Any]:
        for container in self.task.get("containers") or []:
            if container.get("name") == self.container_name:
                return container
        return {}

    async def node(self) -> Node | None:
        arn = self.task.get("containerInstanceArn")
        if not arn:
            return None
        if self._node is None:
            found = await self.gateway.describe_container_instances(self.cluster, [arn])
            if arn not in found:
                return None
            self._node = Node.from_description(found[arn])
        return self._node

    async def node_endpoint(self, port: int, resolver: str) -> Endpoint | None:
        """The first node address (cached, else from the chain) the hub can reach at ``port``."""
        node = await self.node()
        if node is None:
            self.seen[resolver] = "the task has no container instance"
            return None
        cached = self.cache.get(node.arn)
        if cached is not None:
            address, source = cached
            if await self._reachable(address, port, f"cache ({source})"):
                return Endpoint(address, port, f"{resolver}+{source} (cached)")
            self.cache.drop(node.arn)
        async for address, source in node_address_candidates(
            node, self.chain, self.clients, self.policy, self.seen
        ):
            if await self._reachable(address, port, source):
                self.cache.put(node.arn, address, source)
                return Endpoint(address, port, f"{resolver}+{source}")
        return None

    async def _reachable(self, address: str, port: int, source: str) -> bool:
        if self.probe is None or await self.probe(address, port):
            return True
        self.seen[source] = f"{address}:{port} unreachable from the hub"
        log.warning(
            "%s:%s (from %s) is unreachable; trying the next resolver", address, port, source
        )
        return False


class EndpointResolver(Protocol):
    name: str

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None: ...


class AwsvpcResolver:
    name = "awsvpc-eni"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        if ctx.taskdef.network_mode != "awsvpc":
            ctx.seen[self.name] = "not awsvpc"
            return None
        for attachment in ctx.task.get("attachments") or []:
            if attachment.get("type") != "ElasticNetworkInterface":
                continue
            details = {
                str(d.get("name")): str(d["value"])
                for d in attachment.get("details") or []
                if d.get("value")
            }
            # IPv4 when the ENI has one; a task in an IPv6-only subnet has only ipv6Address.
            address = details.get("privateIPv4Address") or details.get("ipv6Address")
            if address:
                return Endpoint(address, ctx.port, self.name)
        ctx.seen[self.name] = "no ENI address"
        return None


class NetworkBindingsResolver:
    name = "network-bindings"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        if ctx.taskdef.network_mode != "bridge":
            ctx.seen[self.name] = "not bridge"
            return None
        bindings = ctx.container.get("networkBindings") or []
        for binding in bindings:
            if binding.get("containerPort") != ctx.port or not binding.get("hostPort"):
                continue
            ip = str(binding.get("bindIP") or "")
            host_port = int(binding["hostPort"])
            if ip not in _UNSPECIFIED:
                return Endpoint(ip, host_port, self.name)
            return await ctx.node_endpoint(host_port, self.name)
        ports = [b.get("containerPort") for b in bindings]
        ctx.seen[self.name] = f"no binding for port {ctx.port} (bindings for {ports})"
        return None


class HostNetworkResolver:
    name = "host-network"

    async def resolve(self, ctx: ResolveContext) -> Endpoint | None:
        if ctx.taskdef.network_mode != "host":
            ctx.seen[self.name] = "not host"
            return None
        return await ctx.node_endpoint(ctx.port, self.name)


def default_resolvers() -> list[EndpointResolver]:
    return [NetworkBindingsResolver(), AwsvpcResolver(), HostNetworkResolver()]


async def resolve_endpoint(ctx: ResolveContext, resolvers: Sequence[EndpointResolver]) -> Endpoint:
    """Ask each resolver in order; the first endpoint wins. EndpointNotFoundError otherwise."""
    for resolver in resolvers:
        endpoint = await resolver.resolve(ctx)
        if endpoint is not None:
            log.info(
                "Task %s listens on %s:%s (found by %s)",
                ctx.task.get("taskArn"),
                endpoint.ip,
                endpoint.port,
                endpoint.resolver,
            )
            if ctx.seen:
                log.info("Resolver chain for this answer: %s", ctx.seen)
            return endpoint
    raise EndpointNotFoundError(str(ctx.task.get("taskArn")), ctx.seen)
