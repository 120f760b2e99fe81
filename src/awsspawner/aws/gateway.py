"""ECSGateway: the only code that calls Amazon ECS.

It batches (DescribeTasks and DescribeContainerInstances take at most 100 ids a call),
caches task definition revisions, paces RegisterTaskDefinition to ECS's 1-per-second refill,
and turns every botocore error into one of :mod:`awsspawner.errors`, carrying operation,
cluster and task, never the request's parameters (RunTask's carry the hub's API token).

One gateway serves every spawner of the hub with the same credentials and region (see
``AWSSpawner.ecs_gateway``, which keeps one per loop), so a task definition is registered
once per (family, container, image), not once per user.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from ..errors import (
    AWSError,
    AWSThrottledError,
    RunTaskFailedError,
    TaskDefinitionError,
    TaskNotFoundError,
    aws_call,
    translate_aws_error,
)
from ..launch.homes import AnyHomeVolume
from ..launch.spawn_settings import SpawnSettings
from ..launch.tags import task_tags
from ..launch.task_definitions import (
    TaskDefinitionInfo,
    derived_family_name,
    derived_registration,
    is_current_derivation,
)
from ..loop_turns import turn
from .paging import all_pages
from .ratelimit import REGISTER_TASK_DEFINITION, RUN_AND_STOP_TASK, BucketLimits, TokenBucket

__all__ = [
    "MAX_IDS_PER_CALL",
    "DescribeResult",
    "ECSGateway",
    "translate_aws_error",  # its old home; it lives in awsspawner.errors
]


log = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 100


@dataclass
class DescribeResult:
    """DescribeTasks' answer for a set of ARNs: the tasks found, and the rest with reasons."""

    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


def _chunks(items: Sequence[str], size: int = MAX_IDS_PER_CALL) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_Described = tuple[dict[str, Any], list[dict[str, str]]]
_Base = tuple[TaskDefinitionInfo, dict[str, Any], list[dict[str, str]]]


@dataclass
class _CachedRevision:
    info: TaskDefinitionInfo
    expires: float


class ECSGateway:
    """Calls ECS on behalf of every spawner of a hub. See the module docstring."""

    def __init__(
        self,
        client: Callable[[], Awaitable[Any]],
        *,
        task_definition_cache_seconds: float = 300.0,
        register_limits: BucketLimits = REGISTER_TASK_DEFINITION,
        modify_limits: BucketLimits = RUN_AND_STOP_TASK,
        retries: int = 3,
        retry_seconds: float = 60.0,
        register_retry_seconds: float = 900.0,
    ) -> None:
        self._client = client
        self.task_definition_cache_seconds = task_definition_cache_seconds
        self.retries = retries
        self.retry_seconds = retry_seconds
        self.register_retry_seconds = register_retry_seconds
        self._revisions: dict[tuple[str, ...], _CachedRevision] = {}
        self._resolving: dict[tuple[str, ...], asyncio.Future[TaskDefinitionInfo]] = {}
        self._bases: dict[str, tuple[float, _Base]] = {}
        self._resolving_bases: dict[str, asyncio.Future[_Described | None]] = {}
        self._register_bucket = TokenBucket(*register_limits)
        self._modify_bucket = TokenBucket(*modify_limits)

    async def _call_with_retries(
        self, operation: str, params: Mapping[str, Any], **where: Any
    ) -> dict[str, Any]:
        """``_call``, tried again when botocore's own retries gave up on a retryable error.

        Only for calls that are safe to repeat with the same parameters: RunTask carries its
        clientToken (the same task comes back), StopTask is idempotent. Bounded in attempts
        and total time; non-retryable errors are raised at once."""
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1) | stop_after_delay(self.retry_seconds),
            wait=wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5),
            retry=retry_if_exception(lambda e: isinstance(e, AWSError) and e.retryable),
            reraise=True,
        ):
            with attempt:
                await self._modify_bucket.acquire()
                number = attempt.retry_state.attempt_number
                if number > 1:
                    log.info("%s: attempt %d", operation, number)
                try:
                    return await self._call(operation, params, **where)
                except AWSError as exc:
                    exc.sends += number - 1  # the earlier attempts went out too
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def _call(
        self,
        operation: str,
        params: Mapping[str, Any],
        *,
        cluster: str | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """Call ECS ``operation`` with ``params``; ``cluster``/``task`` label errors."""
        # Building the client may already ask AWS (assume-role credentials): same translation.
        client = await aws_call("CreateClient", self._client(), cluster=cluster, task=task)
        # botocore serializes and signs on the loop: a burst of calls takes turns. After the
        # client: on a fresh hub every call waits for it, and all would go on at once.
        await turn()
        response: dict[str, Any] = await aws_call(
            operation,
            getattr(client, xform_name(operation))(**params),
            cluster=cluster,
            task=task,
        )
        return response

    # -------------------------------------------------------------------------------- tasks

    async def run_task(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Start one task; return its description. RunTaskFailedError when ECS started none."""
        cluster = str(request.get("cluster", ""))
        response = await self._call_with_retries("RunTask", request, cluster=cluster)
        tasks = response.get("tasks") or []
        if not tasks:
            raise RunTaskFailedError(response.get("failures") or [], cluster=cluster)
        if len(tasks) > 1:
            # count=1 is always sent; more would mean a hook changed it. Keep the first and say so.
            log.warning("RunTask started %d tasks; awsspawner tracks only the first", len(tasks))
        return dict(tasks[0])

    async def describe_tasks(
        self, cluster: str, arns: Sequence[str], *, include_tags: bool = False
    ) -> DescribeResult:
        """Describe any number of tasks, 100 per call. Unknown ARNs land in ``missing``."""
        unique = list(dict.fromkeys(arns))
        result = DescribeResult()
        extra = {"include": ["TAGS"]} if include_tags else {}
        answers = await asyncio.gather(
            *(
                self._call(
                    "DescribeTasks",
                    {"cluster": cluster, "tasks": list(chunk), **extra},
                    cluster=cluster,
                    task=chunk[0] if len(chunk) == 1 else None,
                )
                for chunk in _chunks(unique)
            )
        )
        for answer in answers:
            for task in answer.get("tasks") or []:
                result.tasks[str(task["taskArn"])] = task
            for failure in answer.get("failures") or []:
                if failure.get("arn"):
                    result.missing[str(failure["arn"])] = str(failure.get("reason") or "MISSING")
        for arn in unique:  # an answer that silently leaves an ARN out: that task is missing
            if arn not in result.tasks and arn not in result.missing:
                result.missing[arn] = "MISSING"
        return result

    async def stop_task(self, cluster: str, arn: str, reason: str) -> dict[str, Any] | None:
        """Ask ECS to stop a task. Returns its description, or None when ECS does not know it
        (already gone: stopping is done)."""
        try:
            response = await self._call_with_retries(
                "StopTask",
                {"cluster": cluster, "task": arn, "reason": reason[:255]},
                cluster=cluster,
                task=arn,
            )
        except TaskNotFoundError:
            return None
        return dict(response.get("task") or {}) or None

    async def list_tasks(
        self, cluster: str, started_by: str, desired: Sequence[str] = ("RUNNING", "STOPPED")
    ) -> list[str]:
        """ARNs of the tasks started with ``started_by`` whose desiredStatus is in ``desired``
        (by default: running, and stopped within the last hour or so)."""
        arns: list[str] = []
        for status in desired:
            arns += await all_pages(
                self._pager("ListTasks", cluster),
                "taskArns",
                cluster=cluster,
                startedBy=started_by,
                desiredStatus=status,
                maxResults=100,
            )
        return arns

    def _pager(self, operation: str, cluster: str) -> Callable[..., Awaitable[dict[str, Any]]]:
        """``operation`` as a function of its parameters, for :func:`all_pages`."""

        async def call(**params: Any) -> dict[str, Any]:
            return await self._call(operation, params, cluster=cluster)

        return call

    async def find_tagged_task(
        self, cluster: str, started_by: str, key: str, value: str
    ) -> dict[str, Any] | None:
        """The task started with ``started_by`` whose tag ``key`` is ``value``, if any.

        Lists and describes all of ``started_by``'s tasks: for recovering a spawn whose RunTask
        answer never arrived, not for regular use."""
        arns = await self.list_tasks(cluster, started_by)
        if not arns:
            return None
        found = await self.describe_tasks(cluster, arns, include_tags=True)
        for task in found.tasks.values():
            if task_tags(task).get(key) == value:
                return task
        return None

    async def describe_container_instances(
        self, cluster: str, arns: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Container instances by ARN, 100 per call; unknown ARNs are left out."""
        unique = list(dict.fromkeys(arns))
        answers = await asyncio.gather(
            *(
                self._call(
                    "DescribeContainerInstances",
                    {"cluster": cluster, "containerInstances": list(chunk)},
                    cluster=cluster,
                )
                for chunk in _chunks(unique)
            )
        )
        return {
            str(ci["containerInstanceArn"]): ci
            for answer in answers
            for ci in answer.get("containerInstances") or []
        }

    async def find_container_instance(
        self, cluster: str, instance_id: str
    ) -> dict[str, Any] | None:
        """The container instance of ``cluster`` on the node ``instance_id`` (i-... or mi-...),
        or None when no such node is registered: for a failed spawn only (it may list and
        describe every instance when ECS ignores the filter)."""
        arns = await all_pages(
            self._pager("ListContainerInstances", cluster),
            "containerInstanceArns",
            cluster=cluster,
            filter=f"ec2InstanceId == {instance_id}",
            maxResults=100,
        )
        if not arns:
            return None
        found = await self.describe_container_instances(cluster, arns)
        return next((ci for ci in found.values() if ci.get("ec2InstanceId") == instance_id), None)

    # --------------------------------------------------------------------- task definitions

    async def deregister_task_definition(self, arn: str) -> None:
        """Deregister one revision (running tasks keep running; new ones cannot use it)."""
        await self._call("DeregisterTaskDefinition", {"taskDefinition": arn})
        for key, cached in list(self._revisions.items()):
            if cached.info.arn == arn:
                del self._revisions[key]

    async def task_definition_for(
        self,
        settings: SpawnSettings,
        home: AnyHomeVolume | None = None,
        *,
        owner: Mapping[str, str] | None = None,
        on_queue: Callable[[int, float], None] | None = None,
    ) -> TaskDefinitionInfo:
        """The revision this spawn runs: ``task_definition_arn`` as is, else the family's latest
        revision, or a revision derived from it for ``image`` and ``home`` (a user's EFS home;
        derived from ``task_definition_arn`` too). Cached; concurrent spawns of the same key
        share one lookup and at most one registration. ``owner`` tags a home revision (hub,
        user); ``on_queue(position, seconds)`` hears of a registration about to queue for
        ECS's rate (its place in line and the expected wait)."""
        base_key = (
            settings.task_definition_arn or settings.task_definition_family,
            settings.task_container_name,
            "" if settings.task_definition_arn else settings.image,
        )
        secrets = settings.task_secrets
        key = (
            *base_key,
            home.key if home is not None else "",
            secrets.key if secrets is not None else "",
        )
        cached = self._revisions.get(key)
        if cached and cached.expires > time.monotonic():
            return cached.info
        pending = self._resolving.get(key)
        if pending is None:
            pending = asyncio.ensure_future(
                self._resolve_revision(settings, home, owner or {}, on_queue)
            )
            self._resolving[key] = pending
            pending.add_done_callback(lambda _f: self._resolving.pop(key, None))
        # shield: one spawn cancelled must not cancel the lookup others wait for.
        info = await asyncio.shield(pending)
        self._revisions[key] = _CachedRevision(
            info, time.monotonic() + self.task_definition_cache_seconds
        )
        return info

    @property
    def registrations_waiting(self) -> int:
        """Registrations queued behind ECS's RegisterTaskDefinition rate right now."""
        return self._register_bucket.waiting

    async def _describe_task_definition(
        self, name: str, *, missing_ok: bool = False
    ) -> _Described | None:
        try:
            answer = await self._call(
                "DescribeTaskDefinition", {"taskDefinition": name, "include": ["TAGS"]}
            )
        except TaskDefinitionError:
            if missing_ok:
                return None
            raise
        return answer["taskDefinition"], list(answer.get("tags") or [])

    async def _base_revision(self, name: str) -> _Base:
        """The base revision ``name`` (a family's latest, or an exact ARN), described once per
        cache period however many users derive from it."""
        cached = self._bases.get(name)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        pending = self._resolving_bases.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._describe_task_definition(name))
            self._resolving_bases[name] = pending
            pending.add_done_callback(lambda _f: self._resolving_bases.pop(name, None))
        found = await asyncio.shield(pending)
        assert found is not None
        description, tags = found
        value = (TaskDefinitionInfo.from_description(description, tags), description, tags)
        self._bases[name] = (time.monotonic() + self.task_definition_cache_seconds, value)
        return value

    async def _resolve_revision(
        self,
        settings: SpawnSettings,
        home: AnyHomeVolume | None,
        owner: Mapping[str, str],
        on_queue: Callable[[int, float], None] | None,
    ) -> TaskDefinitionInfo:
        name = settings.task_definition_arn or settings.task_definition_family
        base, base_description, base_tags = await self._base_revision(name)
        container = settings.task_container_name
        current = base.container_images.get(container)
        # An exact revision keeps its image (documented on the trait); a home still needs
        # its volume, which only a revision can carry.
        image = settings.image if settings.image and not settings.task_definition_arn else ""
        if current is None:
            return base  # the spawn's own checks name the missing container
        secrets = settings.task_secrets
        if home is None and secrets is None and image in ("", current):
            return base
        image = image or current
        derived_name = derived_family_name(base.family, container, image, home, secrets)
        existing = await self._describe_task_definition(derived_name, missing_ok=True)
        if existing is not None:
            derived = TaskDefinitionInfo.from_description(*existing)
            if is_current_derivation(
                derived, base, container=container, image=image, home=home, secrets=secrets
            ):
                return derived
        kwargs = derived_registration(
            base_description,
            base_tags,
            container=container,
            image=image,
            home=home,
            owner=owner,
            secrets=secrets,
        )
        if on_queue is not None:
            on_queue(self._register_bucket.waiting + 1, self._register_bucket.delay)
        await self._register_bucket.acquire()
        answer = await self._register(kwargs)
        log.info(
            "Registered task definition %s for image %s%s (derived from %s)",
            answer["taskDefinition"]["taskDefinitionArn"],
            image,
            " with a home" if home is not None else "",
            base.arn,
        )
        return TaskDefinitionInfo.from_description(answer["taskDefinition"], answer.get("tags"))

    async def _register(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """RegisterTaskDefinition, tried again while ECS throttles it: a storm of first spawns
        must wait, not fail (the spawn's own start_timeout bounds the wait). Only throttling
        is retried: a registration that may have happened is harmless to repeat (the family's
        latest revision is what is used), but other errors will not go away."""
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(self.register_retry_seconds),
            wait=wait_exponential(multiplier=1.0, max=16.0) + wait_random(0, 1.0),
            retry=retry_if_exception(lambda e: isinstance(e, AWSThrottledError)),
            reraise=True,
        ):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info("RegisterTaskDefinition throttled: trying again")
                    await self._register_bucket.acquire()
                return await self._call("RegisterTaskDefinition", kwargs)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises
