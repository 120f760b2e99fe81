"""Finding a running task's address: the resolver chain, configured from the spawner's
settings. A mixin of :class:`~awsspawner.AWSSpawner`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyterhub.spawner import SpawnException

from .clients import loop_shared
from .errors import ECSError, EndpointNotFoundError
from .gateway import ECSGateway
from .nodeaddress import AddressPolicy, NodeAddressCache, build_chain
from .resolver import Endpoint, ResolveContext, default_resolvers, resolve_endpoint, tcp_reachable
from .settings import SpawnSettings
from .taskdef import TaskDefinitionInfo

__all__ = ["EndpointFinding"]


class EndpointFinding:
    """Resolves where a task's server listens, with the configured resolvers and filters."""

    if TYPE_CHECKING:
        port: int
        address_resolvers: list[str]
        node_address_attribute: str
        node_address_cidrs: list[str]
        node_address_exclude_cidrs: list[str]
        node_interface: str
        node_interface_exclude: list[str]
        node_address_cache_seconds: float
        node_address_probe_seconds: float
        ssm_command_timeout: float

        async def aws_client(self, service: str, region: str | None = None) -> Any: ...

        def _spawn_error(self, message: str, reason: str, status: int = 500) -> SpawnException: ...

    async def _find_endpoint(
        self,
        settings: SpawnSettings,
        taskdef: TaskDefinitionInfo,
        gateway: ECSGateway,
        task: dict[str, Any],
    ) -> Endpoint:
        async def clients(service: str) -> Any:
            return await self.aws_client(service, settings.aws_region)

        async def probe(ip: str, port: int) -> bool:
            return await tcp_reachable(ip, port, self.node_address_probe_seconds)

        ctx = ResolveContext(
            task=task,
            taskdef=taskdef,
            container_name=settings.task_container_name,
            port=self.port,
            cluster=settings.task_cluster_name,
            gateway=gateway,
            clients=clients,
            chain=build_chain(
                self.address_resolvers,
                attribute=self.node_address_attribute,
                ssm_timeout=self.ssm_command_timeout,
            ),
            policy=AddressPolicy(
                allowed_cidrs=tuple(self.node_address_cidrs),
                excluded_cidrs=tuple(self.node_address_exclude_cidrs),
                interface=self.node_interface,
                excluded_interfaces=tuple(self.node_interface_exclude),
            ),
            cache=loop_shared(
                ("node-addresses", settings.task_cluster_name),
                lambda: NodeAddressCache(self.node_address_cache_seconds),
            ),
            probe=probe if self.node_address_probe_seconds > 0 else None,
        )
        try:
            return await resolve_endpoint(ctx, default_resolvers())
        except (ECSError, EndpointNotFoundError) as exc:
            raise self._spawn_error(
                f"Cannot find your server's address: {exc}", "endpoint"
            ) from None
