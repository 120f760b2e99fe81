"""Finding a running task's address: the endpoint resolvers and the node-address sources,
set up from one :class:`EndpointLookup` (what ``c.AWSSpawner`` says about addresses)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..aws.clients import loop_shared
from ..aws.gateway import ECSGateway
from ..launch.task_definitions import TaskDefinitionInfo
from .node_address import AddressPolicy, NodeAddressCache, build_chain
from .resolvers import Endpoint, ResolveContext, default_resolvers, resolve_endpoint, tcp_reachable

__all__ = ["EndpointLookup", "find_endpoint"]


@dataclass(frozen=True)
class EndpointLookup:
    """How to find where a server listens; one field per ``c.AWSSpawner`` address setting
    (``address_resolvers``, ``node_address_*``, ``node_interface*``, ``ssm_command_timeout``)."""

    address_resolvers: Sequence[str]
    node_address_attribute: str
    policy: AddressPolicy
    node_address_cache_seconds: float
    node_address_probe_seconds: float
    ssm_command_timeout: float


async def find_endpoint(
    lookup: EndpointLookup,
    *,
    task: dict[str, Any],
    taskdef: TaskDefinitionInfo,
    container_name: str,
    port: int,
    cluster: str,
    gateway: ECSGateway,
    clients: Callable[[str], Awaitable[Any]],
) -> Endpoint:
    """Where ``task``'s server listens (its ``port`` inside the container).

    Raises EndpointNotFoundError (naming what each resolver saw) or AWSError."""

    async def probe(ip: str, port: int) -> bool:
        return await tcp_reachable(ip, port, lookup.node_address_probe_seconds)

    ctx = ResolveContext(
        task=task,
        taskdef=taskdef,
        container_name=container_name,
        port=port,
        cluster=cluster,
        gateway=gateway,
        clients=clients,
        chain=build_chain(
            lookup.address_resolvers,
            attribute=lookup.node_address_attribute,
            ssm_timeout=lookup.ssm_command_timeout,
        ),
        policy=lookup.policy,
        # One cache per cluster and event loop: every spawner of the hub shares it.
        cache=loop_shared(
            ("node-addresses", cluster),
            lambda: NodeAddressCache(lookup.node_address_cache_seconds),
        ),
        probe=probe if lookup.node_address_probe_seconds > 0 else None,
    )
    return await resolve_endpoint(ctx, default_resolvers())
