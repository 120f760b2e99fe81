"""AWSSpawner: JupyterHub's view of one user server running as an Amazon ECS task.

This module holds the decisions of the JupyterHub lifecycle; the settings are in
:mod:`awsspawner.config` and every AWS call goes through
:class:`~awsspawner.aws.gateway.ECSGateway`. A spawn never changes the spawner's traits: it works
on a :class:`~awsspawner.launch.spawn_settings.SpawnSettings` built for that spawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import html
import inspect
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from jupyterhub.spawner import SpawnException
from traitlets import default

from .aws.access_points import AccessPointStore
from .aws.clients import (
    configured_endpoint,
    freeze_heap_once,
    loop_shared,
    shared_client,
)
from .aws.gateway import ECSGateway
from .aws.tasks import stop_explanation
from .aws.token_store import TokenStore
from .aws.watcher import TaskWatcher
from .endpoints.finding import find_endpoint
from .endpoints.ports import NoFreePortError, choose_port
from .endpoints.resolvers import Endpoint
from .errors import (
    AWSError,
    ClientTokenConflictError,
    ConfigurationError,
    EndpointNotFoundError,
    RunTaskFailedError,
    spawn_failure,
    user_message,
)
from .home_keeping import HomeKeeping
from .launch.homes import AnyHomeVolume, NodeHomeVolume
from .launch.run_task import SpawnIdentity, build_run_task_request
from .launch.spawn_settings import SpawnSettings
from .launch.tags import TAG_HUB, TAG_USER, escape_tag_value, started_by_for_hub
from .launch.task_definitions import TaskDefinitionInfo
from .launch.task_roles import RoleTemplate, is_role_arn
from .launch.token_file import FROM_S3, TokenFile, split_secrets, token_file_for
from .loop_turns import turn
from .profiles.menu import shown
from .profiles.options import check_user_options
from .progress import ProgressLog
from .running import ServerTask, Timings

__all__ = ["AWSSpawner"]


class _NoCapacity(Exception):
    """RunTask found no capacity, and a ``capacity_fallback`` is left to try."""


class _HomeNodeRefused(Exception):
    """RunTask placed no task on the node that holds the user's home."""


def refused_before_reaching_ecs(error: AWSError) -> bool:
    """True when a failed RunTask certainly started no task: its one and only send was
    refused. After an error that may hide a lost answer (retryable), or a refusal of a retry
    (an earlier send may have started the task; ECS's clientToken makes that the same task),
    or a clientToken conflict (the token was used before), a task may exist: stop() must
    look for it by the token."""
    return (
        not error.retryable and error.sends == 1 and not isinstance(error, ClientTokenConflictError)
    )


#: The notebook's port unless c.Spawner.port (or a host-network revision) says otherwise.
DEFAULT_PORT = 8888

#: start() gives up this many seconds before JupyterHub's start_timeout would cancel it.
START_TIMEOUT_MARGIN = 1.0


class AWSSpawner(HomeKeeping):
    """Runs each user's notebook server as an Amazon ECS task.

    EC2, Fargate, Fargate Spot, any capacity provider strategy and ECS Anywhere (EXTERNAL).
    Configure it in ``jupyterhub_config.py`` with ``c.AWSSpawner.<setting>``; every setting
    is listed in :class:`~awsspawner.config.AWSSpawnerConfig`.
    """

    _poll_error_logged = False
    _progress: ProgressLog | None = None

    @default("ip")
    def _default_ip(self) -> str:
        return "0.0.0.0"  # noqa: S104 - inside the task: the hub must reach it from outside

    @default("port")
    def _default_port(self) -> int:
        return DEFAULT_PORT

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        # Without a hook JupyterHub logs every user_options key as "unhandled".
        return check_user_options

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        return []  # the hub's own environment means nothing inside a task

    # ------------------------------------------------------------------------ building

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Configuration mistakes surface when the hub builds the spawner, not at a spawn.
        self.authentication  # noqa: B018 - builds and checks the authentication object
        settings = self.spawn_settings()
        #: The port as configured: each spawn starts from it (a spawn may change self.port).
        self._configured_port = self.port
        self._warn_adjustments(settings)
        if settings.task_definition_arn and settings.image:
            self.log.warning(
                "c.AWSSpawner.image is not used: c.AWSSpawner.task_definition_arn names the "
                "exact revision to run"
            )
        self._check_static_profiles()

    async def aws_client(self, service: str, region: str | None = None) -> Any:
        """The hub-wide shared aiobotocore client for ``service``."""
        if self.gc_freeze_after_setup:
            # The hub's startup heap first, so collections while botocore loads its models
            # walk only the models; then the models too.
            freeze_heap_once("hub")
        client = await shared_client(
            service,
            auth=self.authentication,
            region=region or self.aws_region,
            settings=self.client_settings(),
        )
        if self.gc_freeze_after_setup and freeze_heap_once(f"client:{service}"):
            self.log.info(
                "gc.freeze() after building the %s client (gc_freeze_after_setup)", service
            )
        return client

    def ecs_gateway(self, settings: SpawnSettings | None = None) -> ECSGateway:
        """The gateway for this spawn (the ``gateway`` trait, else the hub-wide shared one)."""
        if self.gateway is not None:
            return self.gateway
        region = settings.aws_region if settings else self.aws_region
        key = (
            "ecs-gateway",
            self.authentication.cache_key(),
            region,
            self.client_settings(),
            configured_endpoint("ecs"),
            self.task_definition_cache_seconds,
            self.task_call_retries,
        )

        async def client() -> Any:
            return await self.aws_client("ecs", region)

        return loop_shared(
            key,
            lambda: ECSGateway(
                client,
                task_definition_cache_seconds=self.task_definition_cache_seconds,
                retries=self.task_call_retries,
            ),
        )

    def token_store(self, region: str | None = None, kms_key_id: str = "") -> TokenStore:
        """The hub-wide store of token files (``api_token_source = 's3'``)."""
        region = region or self.aws_region
        key = (
            "token-store",
            self.authentication.cache_key(),
            region,
            self.client_settings(),
            configured_endpoint("s3"),
            kms_key_id,
        )

        async def client() -> Any:
            return await self.aws_client("s3", region)

        return loop_shared(key, lambda: TokenStore(client, kms_key_id))

    def access_points(self, region: str | None = None) -> AccessPointStore:
        """The hub-wide finder and creator of users' EFS access points."""
        region = region or self.aws_region
        key = (
            "access-points",
            self.authentication.cache_key(),
            region,
            self.client_settings(),
            configured_endpoint("efs"),
        )

        async def client() -> Any:
            return await self.aws_client("efs", region)

        return loop_shared(key, lambda: AccessPointStore(client))

    def server_command(self, settings: SpawnSettings) -> list[str]:
        """The notebook container's command: cmd + the hub's arguments + notebook_args."""
        return [*(settings.cmd or self.cmd), *self.get_args(), *settings.notebook_args]

    def spawn_identity(self, profile: str = "") -> SpawnIdentity:
        user_id = getattr(self.user, "id", None)
        return SpawnIdentity(
            username=self.user.name,
            server_name=self.name or "",
            profile=profile,
            user_id="" if user_id is None else str(user_id),
        )

    async def _request(
        self,
        settings: SpawnSettings,
        taskdef: TaskDefinitionInfo,
        token: str,
        profile: str,
        environment: dict[str, str],
        token_file: TokenFile | None,
    ) -> dict[str, Any]:
        request = build_run_task_request(
            settings,
            taskdef,
            self.spawn_identity(profile),
            command=self.server_command(settings),
            environment=environment,
            client_token=token,
            port=self.task_port or "",
            token_file=token_file,
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
        return request

    def interruption_notice(self) -> str:
        """What to tell the user when AWS reclaimed their last server's Spot capacity."""
        if not self.interruption:
            return ""
        code, _, when = self.interruption.partition(" ")
        try:
            moment = datetime.fromtimestamp(float(when), tz=timezone.utc).strftime("%H:%M UTC")
        except ValueError:
            moment = "an unknown time"
        kept = (
            "Your home directory is kept; running kernels and unsaved changes were lost."
            if self.efs_file_system_id or self.node_home_directory
            else "Its running kernels and files were lost."
        )
        return (
            f"AWS reclaimed the Spot capacity your last server ran on at {moment} ({code}), "
            f"which stopped it. {kept}"
        )

    async def get_options_form(self) -> str:
        form = await super().get_options_form()
        notice = self.interruption_notice()
        if form and notice:
            # Above the profile form, so the user sees why before choosing again.
            form = (
                f'<div class="alert alert-warning" role="alert">{html.escape(notice)}</div>\n{form}'
            )
        return form

    def _new_progress_log(self) -> ProgressLog:
        seconds = self.slow_spawn_message_seconds
        return ProgressLog(slow_after=seconds, slow_every=seconds)

    # ---------------------------------------------------------------------------- start

    async def start(self) -> str:
        await turn()  # a login storm's spawns share each loop iteration (see loop_turns)
        profile, overrides = await self._chosen_profile()
        try:
            settings = self.spawn_settings(overrides)
        except ConfigurationError as exc:
            where = f"profile {profile!r}: " if profile else ""
            raise spawn_failure(where + str(exc), "configuration") from None
        self._warn_adjustments(settings, profile)  # a profile_list function's, seen only now
        progress = self._progress = self._new_progress_log()
        notice = self.interruption_notice()
        if notice:
            progress.add(1, notice)
            self.interruption = ""  # told once
            self.commit_state()
        # A host-network server on a port another process took exits at once: try again on
        # another port (a new attempt, with a new clientToken).
        attempts = 3 if settings.use_dynamic_port else 1
        # JupyterHub's own start_timeout cancels start() and reports an empty "Spawn failed":
        # give up a little earlier, stop the task, and say in which ECS stage it was stuck.
        budget = max(self.start_timeout - START_TIMEOUT_MARGIN, self.start_timeout / 2)
        try:
            return await asyncio.wait_for(
                self._attempts(settings, profile, progress, attempts), timeout=budget
            )
        except asyncio.TimeoutError:
            last = progress.events[-1]["message"] if progress.events else "nothing yet"
            raise spawn_failure(
                f"Your server did not start within {self.start_timeout:g} s "
                f"(c.AWSSpawner.start_timeout); last news from ECS: {last}. "
                "The task has been stopped.",
                "timeout",
            ) from None
        finally:
            # Failed: no server, no file. Started: the agent read it before the task ran
            # (_launch deleted it then); this is a no-op.
            await self._delete_token_file()
            progress.finish()

    async def _attempts(
        self, settings: SpawnSettings, profile: str, progress: ProgressLog, attempts: int
    ) -> str:
        failed_ports: set[int] = set()
        for attempt in range(1, attempts + 1):
            try:
                return await self._attempt(settings, profile, progress, failed_ports)
            except SpawnException as exc:
                if exc.reason != "task-stopped" or not self.task_port or attempt == attempts:
                    raise
                failed_ports.add(int(self.task_port))
                self.log.warning("Retrying on another port: %s", exc.message)
        raise AssertionError("unreachable")

    async def _attempt(
        self, settings: SpawnSettings, profile: str, progress: ProgressLog, avoid: set[int]
    ) -> str:
        await turn()
        self.forget_task()
        self.task_cluster = settings.task_cluster_name
        self.task_container = settings.task_container_name
        token = uuid.uuid4().hex  # one per attempt: retries of it reuse it
        gateway = self.ecs_gateway(settings)
        reserved: set[int] = loop_shared(("reserved-ports", settings.task_cluster_name), set)
        try:
            try:
                # First what can fail without AWS: a role function's answer.
                role = await self._task_role(settings)
                home = await self.home_volume(settings)
                taskdef = await self._task_definition(settings, gateway, progress, home)
                node = await self._home_node(settings, gateway, home, progress)
                settings = self.pinned(settings, node)
                # Every spawn of a fresh hub waits for the same first lookup, and all would
                # build their requests in the iteration it is answered: take turns.
                await turn()
                self.port = self._configured_port
                if taskdef.network_mode == "host" and not settings.use_dynamic_port:
                    self.port = self._declared_host_port(settings, taskdef)
                if settings.use_dynamic_port and taskdef.network_mode == "host":
                    self.port = await choose_port(
                        gateway,
                        settings.task_cluster_name,
                        started_by_for_hub(settings.hub_id),
                        settings.port_range_start,
                        settings.port_range_end,
                        reserved,
                        avoid,
                    )
                    self.task_port = str(self.port)
                environment = {**self.get_env(), **settings.environment_overrides}
                token_file, file_text = None, ""
                if settings.api_token_source == FROM_S3:
                    environment, file_text = split_secrets(environment)
                    token_file = self._token_file(settings)

                async def build(current: SpawnSettings, token: str) -> dict[str, Any]:
                    current = dataclasses.replace(current, task_role_arn=role)
                    return await self._request(
                        current, taskdef, token, profile, environment, token_file
                    )

                request = await build(settings, token)
                if token_file is not None:
                    # Written before RunTask, so the agent finds it; remembered at once, so
                    # any end of this spawn (or a stop after a hub restart) deletes it.
                    self.token_file = token_file.ref
                    self.commit_state()
                    await self.token_store(settings.aws_region, settings.api_token_kms_key_id).put(
                        token_file, file_text
                    )
            except ConfigurationError as exc:
                raise spawn_failure(str(exc), "configuration") from None
            except NoFreePortError as exc:
                raise spawn_failure(f"No port for your server: {exc}", "capacity", 503) from None
            except AWSError as exc:
                self.log.error("Preparing the task of %s failed: %s", self._log_name, exc)
                raise spawn_failure(
                    "Could not prepare your server's task: " + user_message(exc), "aws"
                ) from None
            self.task_definition = taskdef.arn
            # The token is what stop() looks for a task by when no ARN is known: set it only
            # now that RunTask is about to be sent, and commit it before (the hub may die).
            self.client_token = token
            self.commit_state()
            url = await self._launch(
                settings, taskdef, gateway, request, progress, build, home, node
            )
            self.retire_superseded_revision(profile, taskdef, gateway)
            return url
        finally:
            if self.task_port:
                reserved.discard(int(self.task_port))

    async def _task_definition(
        self,
        settings: SpawnSettings,
        gateway: ECSGateway,
        progress: ProgressLog,
        home: AnyHomeVolume | None,
    ) -> TaskDefinitionInfo:
        """The revision this spawn runs; with a home, the user's own (registered at their
        first spawn, or ahead by ``awsspawner homes prepare``)."""

        def queued(position: int, seconds: float) -> None:
            # ECS registers one revision a second (after a burst): say where this one is.
            wait = f": {position} in line for AWS, about {math.ceil(seconds)} s" if seconds else ""
            progress.add(5, f"Preparing your home directory (first start only){wait}")

        return await self.home_revision(settings, gateway, home, on_queue=queued)

    async def home_revision(
        self,
        settings: SpawnSettings,
        gateway: ECSGateway,
        home: AnyHomeVolume | None,
        on_queue: Callable[[int, float], None] | None = None,
    ) -> TaskDefinitionInfo:
        """The revision a spawn with ``home`` (from :meth:`home_volume`) runs."""
        if home is None:
            return await gateway.task_definition_for(settings)
        owner = {
            TAG_HUB: escape_tag_value(settings.hub_id),
            TAG_USER: escape_tag_value(self.user.name),
        }
        return await gateway.task_definition_for(settings, home, owner=owner, on_queue=on_queue)

    async def _task_role(self, settings: SpawnSettings) -> str:
        """This user's task role ARN: ``task_role_arn`` as is, its template rendered for the
        user, or what its function returns ("": the task definition's role)."""
        value = settings.task_role_arn
        if callable(value):
            value = value(self)
            if inspect.isawaitable(value):
                value = await value
            if value is None or value == "":
                return ""
            if not isinstance(value, str) or not is_role_arn(value):
                raise ConfigurationError(
                    "task_role_arn",
                    f"the function returned {shown(value)}, not an IAM role ARN "
                    "(arn:aws:iam::ACCOUNT:role/NAME)",
                )
            return value
        if "{" in value:
            return RoleTemplate.parse(value).render(self.user.name)
        return str(value)

    def _declared_host_port(self, settings: SpawnSettings, taskdef: TaskDefinitionInfo) -> int:
        """A host-network server listens on the node itself, and ECS books the notebook
        container's declared containerPort there (placement conflicts, networkBindings): when
        the revision declares one, the server uses it."""
        declared = taskdef.container_ports.get(settings.task_container_name) or ()
        if not declared or self.port in declared:
            return int(self.port)
        container = settings.task_container_name
        if len(declared) > 1:
            # Which of several is the notebook's cannot be known: keep the configured port.
            self._warn_once(
                taskdef.arn,
                f"c.AWSSpawner.port = {self.port} is not among the containerPorts "
                f"{', '.join(map(str, declared))} that host-network container {container!r} of "
                f"{taskdef.arn} declares: ECS books those on the node, not the server's port",
            )
            return int(self.port)
        port = declared[0]
        if self.port != DEFAULT_PORT:
            self._warn_once(
                taskdef.arn,
                f"c.AWSSpawner.port = {self.port} is not used for {taskdef.arn}: its host "
                f"network container {container!r} declares containerPort {port}, where ECS "
                f"books the port on the node, so the server listens on {port}",
            )
        return port

    def _token_file(self, settings: SpawnSettings) -> TokenFile:
        return token_file_for(
            bucket=settings.api_token_bucket,
            prefix=settings.api_token_key_prefix,
            region=settings.aws_region,
            hub_id=settings.hub_id,
            username=self.user.name,
            server_name=self.name or "",
        )

    async def _delete_token_file(self) -> None:
        """Delete this server's token file, if it has one (shielded: a cancelled spawn must
        still remove it)."""
        if not self.token_file:
            return
        file = TokenFile.from_ref(self.token_file)
        deleting = asyncio.ensure_future(self.token_store(file.region or None).delete(file))
        try:
            deleted = await asyncio.shield(deleting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(deleting, timeout=30)
            raise
        if deleted:
            self.token_file = ""
            self.commit_state()

    async def _launch(
        self,
        settings: SpawnSettings,
        taskdef: TaskDefinitionInfo,
        gateway: ECSGateway,
        request: dict[str, Any],
        progress: ProgressLog,
        build: Callable[[SpawnSettings, str], Awaitable[dict[str, Any]]],
        home: AnyHomeVolume | None = None,
        node: str = "",
    ) -> str:
        try:
            settings, task = await self._run_task_or_fall_back(
                settings, gateway, request, progress, build, home, node
            )
            self.task_arn = str(task["taskArn"])
            self.commit_state()
            self.task_watcher(gateway).watch(self.task_arn, starting=True)
            self.log.info("Started ECS task %s for %s", self.task_arn, self._log_name)
            progress.stage("submitted", launch=settings.launch.describe())
            progress.observe(task)
            task = await self._wait_until_running(gateway, progress)
            await self.record_home_node(home, task, settings.task_cluster_name, gateway)
            # The agent read the token file before it started the container: a live
            # credential need not wait in S3 until the server stops.
            await self._delete_token_file()
            progress.stage("resolving")
            endpoint = await self._find_endpoint(settings, taskdef, gateway, task)
        except BaseException:
            await self._stop_after_failed_start(gateway)
            raise
        self.endpoint_url = endpoint.url(settings.notebook_scheme)
        self.commit_state()
        return self.endpoint_url

    async def _run_task_or_fall_back(
        self,
        settings: SpawnSettings,
        gateway: ECSGateway,
        request: dict[str, Any],
        progress: ProgressLog,
        build: Callable[[SpawnSettings, str], Awaitable[dict[str, Any]]],
        home: AnyHomeVolume | None = None,
        node: str = "",
    ) -> tuple[SpawnSettings, dict[str, Any]]:
        """RunTask; when ECS has no capacity for it, the same spawn on each
        ``capacity_fallback`` in turn (a new request and clientToken each). Returns the
        settings the task was started with, and the task. A spawn pinned to the node of its
        home that the node refuses: see :meth:`_home_node_refused`."""
        fallbacks = settings.fallbacks()
        while True:
            try:
                return settings, await self._run_task(
                    gateway, request, bool(fallbacks), pinned_to=node
                )
            except _HomeNodeRefused as exc:
                assert isinstance(home, NodeHomeVolume)
                await self._home_node_refused(settings, gateway, node, home, str(exc), progress)
                settings = self.unpinned(settings, node)
                fallbacks = [self.unpinned(following, node) for following in fallbacks]
                node = ""
                token = uuid.uuid4().hex
                try:
                    request = await build(settings, token)
                except ConfigurationError as error:
                    raise spawn_failure(str(error), "configuration") from None
                self.client_token = token
                self.commit_state()
            except _NoCapacity as exc:
                following = fallbacks.pop(0)
                message = (
                    f"{settings.launch.plain_name()} has no capacity right now: starting on "
                    f"{following.launch.plain_name()}"
                )
                self.log.info("%s for %s (ECS: %s)", message, self._log_name, exc)
                progress.add(8, message)
                settings = following
                token = uuid.uuid4().hex
                try:
                    request = await build(settings, token)
                except ConfigurationError as error:
                    raise spawn_failure(str(error), "configuration") from None
                self.client_token = token  # what stop() looks for the task by, as before
                self.commit_state()

    async def _home_node_refused(
        self,
        settings: SpawnSettings,
        gateway: ECSGateway,
        node: str,
        home: NodeHomeVolume,
        reason: str,
        progress: ProgressLog,
    ) -> None:
        """The node that holds the user's home took no task. Still in the cluster (full,
        draining, its agent offline): fail, saying so. Gone: its directory is out of reach for
        good, so forget the pin and return (the caller starts the server elsewhere)."""
        try:
            instance = await gateway.find_container_instance(settings.task_cluster_name, node)
        except AWSError as exc:
            self.log.error("Looking for node %s failed: %s", node, exc)
            instance = {"status": "unknown"}
        if instance is not None:
            status = str(instance.get("status") or "")
            connected = instance.get("agentConnected")
            state = f"{status.lower()}{', its agent offline' if connected is False else ''}"
            raise spawn_failure(
                f"Your home directory is on node {node} ({home.path}), which cannot take your "
                f"server now (node {state}; ECS: {reason}). Try again later, or ask an "
                "administrator to free or bring back that node.",
                "capacity",
                503,
            )
        self._node_left(settings, node, home, progress)

    async def _home_node(
        self,
        settings: SpawnSettings,
        gateway: ECSGateway,
        home: AnyHomeVolume | None,
        progress: ProgressLog,
    ) -> str:
        """The node this spawn is pinned to ("" for none). A pinned node is looked up first:
        with a capacity provider strategy ECS would keep a task it cannot place PROVISIONING
        (waiting for an instance that will never come) instead of refusing it."""
        cluster = settings.task_cluster_name
        node = self.home_node_for(home, cluster)
        if not node or not isinstance(home, NodeHomeVolume):
            return ""
        if await gateway.find_container_instance(cluster, node) is None:
            self._node_left(settings, node, home, progress)
            return ""
        return node

    def _node_left(
        self, settings: SpawnSettings, node: str, home: NodeHomeVolume, progress: ProgressLog
    ) -> None:
        message = (
            f"Your home directory was on node {node}, which has left the cluster: your server "
            "starts on another node, with that node's copy of your home directory"
        )
        self.log.warning("%s (%s, user %s)", message, home.path, self._log_name)
        progress.add(8, message)
        self.forget_home_node(home, settings.task_cluster_name)

    async def _run_task(
        self,
        gateway: ECSGateway,
        request: dict[str, Any],
        can_fall_back: bool = False,
        pinned_to: str = "",
    ) -> dict[str, Any]:
        run = asyncio.ensure_future(gateway.run_task(request))
        self.run_task_at = time.monotonic()
        self.run_task_in_flight = True
        run.add_done_callback(lambda _: setattr(self, "run_task_in_flight", False))
        try:
            return await asyncio.shield(run)
        except asyncio.CancelledError:
            # Cancelled (start_timeout, the user pressed stop) while RunTask was in flight:
            # ECS may start the task anyway. Wait for the answer so the task can be stopped.
            with contextlib.suppress(Exception):
                task = await asyncio.wait_for(run, timeout=30)
                self.task_arn = str(task["taskArn"])
            raise
        except RunTaskFailedError as exc:
            # ECS answered "no task" for this clientToken: with the same token it would have
            # returned the task an earlier send started, so none exists.
            self._no_task_was_started()
            if pinned_to:
                raise _HomeNodeRefused(exc.message) from None
            if can_fall_back and exc.for_capacity:
                raise _NoCapacity(exc.message) from None
            raise spawn_failure(
                f"ECS could not start your server: {exc.message}", "capacity", 503
            ) from None
        except AWSError as exc:
            if refused_before_reaching_ecs(exc):
                self._no_task_was_started()
            self.log.error("RunTask for %s failed: %s", self._log_name, exc)
            raise spawn_failure(
                "ECS refused to start your server: " + user_message(exc), "aws"
            ) from None

    def _no_task_was_started(self) -> None:
        """ECS said no: forget the token, so the hub's stop() after the failed spawn does not
        list and describe every task of the hub looking for a task that cannot exist."""
        self.client_token = ""
        self.commit_state()

    async def _wait_until_running(
        self, gateway: ECSGateway, progress: ProgressLog
    ) -> dict[str, Any]:
        """Follow the task until RUNNING; fail at once, with ECS's reason, if it stops."""
        watcher = self.task_watcher(gateway)
        while True:
            # RunTask (or the last look) just described the task: wait one interval first.
            # Every spawn waiting rides along with each refresh, so concurrent spawns share
            # their DescribeTasks calls (up to 100 tasks per call).
            await asyncio.sleep(self.startup_poll_interval)
            snapshot = await watcher.snapshot(
                self.task_arn, self.startup_poll_interval * 0.9, starting=True
            )
            task = snapshot.task
            if snapshot.error is not None and not snapshot.error.retryable:
                self.log.error("Following %s failed: %s", self.task_arn, snapshot.error)
                raise spawn_failure(
                    "Cannot follow your server's task: " + user_message(snapshot.error), "aws"
                )
            if (
                task is None
                and snapshot.known
                and self.missing_too_long(self.missing_grace_seconds)
            ):
                raise spawn_failure(
                    f"ECS lost track of task {self.task_arn} while it was starting",
                    "task-missing",
                )
            if task is not None:
                progress.observe(task)
                status = task.get("lastStatus")
                if status == "STOPPED" or task.get("desiredStatus") == "STOPPED":
                    raise spawn_failure(
                        "Your server's task stopped while starting: " + stop_explanation(task),
                        "task-stopped",
                    )
                if status == "RUNNING":
                    return task
            progress.still_waiting(str(task.get("lastStatus")) if task else "")

    async def _find_endpoint(
        self,
        settings: SpawnSettings,
        taskdef: TaskDefinitionInfo,
        gateway: ECSGateway,
        task: dict[str, Any],
    ) -> Endpoint:
        async def clients(service: str) -> Any:
            return await self.aws_client(service, settings.aws_region)

        try:
            return await find_endpoint(
                self.endpoint_lookup(),
                task=task,
                taskdef=taskdef,
                container_name=settings.task_container_name,
                port=self.port,
                cluster=settings.task_cluster_name,
                gateway=gateway,
                clients=clients,
            )
        except (AWSError, EndpointNotFoundError) as exc:
            raise spawn_failure(f"Cannot find your server's address: {exc}", "endpoint") from None

    def task_watcher(self, gateway: ECSGateway) -> TaskWatcher:
        """The hub-wide watcher of this spawner's cluster (one per gateway and loop)."""
        cluster = self.task_cluster or self.task_cluster_name
        return loop_shared(("watcher", id(gateway), cluster), lambda: TaskWatcher(gateway, cluster))

    async def _stop_after_failed_start(self, gateway: ECSGateway) -> None:
        if not self.task_arn:
            return
        self.task_watcher(gateway).forget(self.task_arn)
        # Shielded: the start was probably cancelled, and the stop must still happen.
        stopping = asyncio.ensure_future(
            gateway.stop_task(self.task_cluster, self.task_arn, "JupyterHub spawn failed")
        )
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stopping, timeout=30)
            raise
        except AWSError as exc:
            self.log.error("Could not stop task %s after a failed spawn: %s", self.task_arn, exc)

    # ----------------------------------------------------------------- poll and stop

    def _server_task(self) -> ServerTask:
        gateway = self.ecs_gateway()
        return ServerTask(
            state=self,
            gateway=gateway,
            watcher=self.task_watcher(gateway),
            cluster=self.task_cluster_name,
            container=self.task_container_name,
            hub_id=self.hub_id,
            timings=Timings(
                poll_interval=self.poll_interval,
                startup_poll_interval=self.startup_poll_interval,
                stop_wait_seconds=self.stop_wait_seconds,
                missing_grace_seconds=self.missing_grace_seconds,
            ),
            log=self.log,
        )

    async def poll(self) -> int | None:
        status, self._poll_error_logged = await self._server_task().poll(self._poll_error_logged)
        return status

    async def stop(self, now: bool = False) -> None:
        try:
            await self._server_task().stop(now)
        finally:
            await self._delete_token_file()  # left only if the server never ran

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        if self._progress is None:
            return
        async for event in self._progress.follow():
            yield event

    async def get_url(self) -> str:
        """The stored address; for a spawn the hub lost track of, wait for its task and
        resolve it (the hub calls this after a restart, for servers poll() says run)."""
        if self.endpoint_url or not self.task_arn:
            return self.endpoint_url or str(self.server.url)
        settings = self.spawn_settings(
            {"task_definition_arn": self.task_definition} if self.task_definition else None
        )
        gateway = self.ecs_gateway(settings)
        progress = self._progress = self._new_progress_log()
        try:
            task = await asyncio.wait_for(
                self._wait_until_running(gateway, progress), self.start_timeout
            )
            await self._delete_token_file()
            taskdef = await gateway.task_definition_for(settings)
            endpoint = await self._find_endpoint(settings, taskdef, gateway, task)
        finally:
            progress.finish()
        self.endpoint_url = endpoint.url(settings.notebook_scheme)
        self.commit_state()
        return self.endpoint_url
