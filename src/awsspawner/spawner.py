"""AWSSpawner: JupyterHub's view of one user server running as an Amazon ECS task.

This module holds the decisions of the JupyterHub lifecycle; the settings are in
:mod:`awsspawner.config` and every AWS call goes through
:class:`~awsspawner.gateway.ECSGateway`. A spawn never changes the spawner's traits: it works
on a :class:`~awsspawner.settings.SpawnSettings` built for that spawn.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from jupyterhub.spawner import Spawner
from traitlets import default

from .clients import ClientSettings, configured_endpoint, loop_shared, shared_client
from .config import AWSSpawnerConfig
from .errors import ConfigurationError
from .gateway import ECSGateway
from .requests import SpawnIdentity, build_run_task_request
from .settings import SpawnSettings
from .taskdef import TaskDefinitionInfo

__all__ = ["AWSSpawner"]


class AWSSpawner(AWSSpawnerConfig, Spawner):  # type: ignore[misc]
    """Runs each user's notebook server as an Amazon ECS task.

    EC2, Fargate, Fargate Spot, any capacity provider strategy and ECS Anywhere (EXTERNAL).
    Configure it in ``jupyterhub_config.py`` with ``c.AWSSpawner.<setting>``; every setting
    is listed in :class:`~awsspawner.config.AWSSpawnerConfig`.
    """

    @default("ip")
    def _default_ip(self) -> str:
        return "0.0.0.0"  # noqa: S104 - inside the task: the hub must reach it from outside

    @default("port")
    def _default_port(self) -> int:
        return 8888

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        return []  # the hub's own environment means nothing inside a task

    # ------------------------------------------------------------------------ building

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Configuration mistakes surface when the hub builds the spawner, not at a spawn.
        self.authentication  # noqa: B018 - builds and checks the authentication object
        settings = self.spawn_settings()
        if settings.placement_constraints and not settings.sends_placement_constraints:
            self.log.warning(
                "c.AWSSpawner.placement_constraints is not sent for launch_type %s: Fargate "
                "does not support placement constraints",
                settings.launch.describe(),
            )
        if settings.task_definition_arn and settings.image:
            self.log.warning(
                "c.AWSSpawner.image is not used: c.AWSSpawner.task_definition_arn names the "
                "exact revision to run"
            )

    def spawn_settings(self, overrides: Mapping[str, Any] | None = None) -> SpawnSettings:
        """This spawn's settings: the traits, with ``overrides`` (a profile) applied, checked."""
        values = {name: getattr(self, name) for name in SpawnSettings.trait_names()}
        values.update(overrides or {})
        return SpawnSettings.from_values(values)

    @property
    def client_settings(self) -> ClientSettings:
        return ClientSettings(
            retry_mode=self.aws_retry_mode,
            max_attempts=self.aws_max_attempts,
            connect_timeout=self.aws_connect_timeout,
            read_timeout=self.aws_read_timeout,
            max_pool_connections=self.aws_max_pool_connections,
        )

    async def aws_client(self, service: str, region: str | None = None) -> Any:
        """The hub-wide shared aiobotocore client for ``service``."""
        return await shared_client(
            service,
            auth=self.authentication,
            region=region or self.aws_region,
            settings=self.client_settings,
        )

    def ecs_gateway(self, settings: SpawnSettings | None = None) -> ECSGateway:
        """The gateway for this spawn (the ``gateway`` trait, else the hub-wide shared one)."""
        if self.gateway is not None:
            return self.gateway
        region = settings.aws_region if settings else self.aws_region
        key = (
            "ecs-gateway",
            self.authentication.cache_key(),
            region,
            self.client_settings,
            configured_endpoint("ecs"),
            self.task_definition_cache_seconds,
        )

        async def client() -> Any:
            return await self.aws_client("ecs", region)

        return loop_shared(
            key,
            lambda: ECSGateway(
                client, task_definition_cache_seconds=self.task_definition_cache_seconds
            ),
        )

    def server_command(self, settings: SpawnSettings) -> list[str] | None:
        """cmd + the hub's arguments + notebook_args; None (image default) when cmd is empty."""
        if not self.cmd:
            return None
        return [*self.cmd, *self.get_args(), *settings.notebook_args]

    def spawn_identity(self, profile: str = "") -> SpawnIdentity:
        return SpawnIdentity(username=self.user.name, server_name=self.name or "", profile=profile)

    async def run_task_request(
        self, settings: SpawnSettings, client_token: str, *, profile: str = ""
    ) -> tuple[dict[str, Any], TaskDefinitionInfo]:
        """The final RunTask kwargs of a spawn (after ``modify_run_task_hook``), and the
        revision it runs. Looks up (or derives) the task definition; starts nothing."""
        taskdef = await self.ecs_gateway(settings).task_definition_for(settings)
        request = build_run_task_request(
            settings,
            taskdef,
            self.spawn_identity(profile),
            command=self.server_command(settings),
            environment=self.get_env(),
            client_token=client_token,
        )
        hook = self.modify_run_task_hook
        if hook is not None:
            changed = hook(self, request)
            if inspect.isawaitable(changed):
                changed = await changed
            if not isinstance(changed, dict):
                raise ConfigurationError(
                    "modify_run_task_hook",
                    f"must return the RunTask request dict, returned {type(changed).__name__}",
                )
            request = changed
        return request, taskdef
