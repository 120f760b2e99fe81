"""ECS as the spawner meets it: what plain moto lacks, patched into moto's ECS backend.

Applied by :func:`install` inside the emulator server process only. What changes:

* Tasks placed on a container instance (EC2, EXTERNAL), and Fargate tasks while a Fargate agent
  is registered, start at PROVISIONING and move only when an agent reports through
  SubmitTaskStateChange / SubmitContainerStateChange / SubmitAttachmentStateChanges (which
  moto lacks), as the real ECS agent does. Those reports carry networkBindings, exit codes,
  reasons and pull times; ECS's own timestamps and stopCode are kept here.
* RunTask: clientToken idempotency (same token + same parameters -> the same task; other
  parameters -> ConflictException), placement by resources and placement constraints with
  ``failures[]`` (RESOURCE:CPU/MEMORY/PORTS, or the unmet constraint) when nothing fits,
  EXTERNAL tasks only on ``mi-`` instances and EC2 tasks only on ``i-`` ones, and awsvpc ENIs
  on loopback addresses (127.100.x.y) so a hub may connect to them.
* DescribeTasks: only the named cluster's tasks, ``failures: MISSING`` for unknown ARNs, at
  most 100 ARNs a call.
* StopTask: InvalidParameterException for an unknown task; stopping twice frees nothing twice;
  an agent-run task keeps running until its agent reports it STOPPED.
* RegisterContainerInstance: ``mi-`` instances without an EC2 instance (ECS Anywhere), and the
  ``attributes`` and ``totalResources`` of the request.
* RegisterTaskDefinition: keeps bridge/host network modes for EXTERNAL-compatible definitions.
* A container without memory of its own (the task's memory serves it, as on Fargate) no longer
  fails RunTask with a 500: the task's memory is what it takes.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
from collections.abc import Iterator
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores, utcnow
from moto.ec2.models import ec2_backends
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import InvalidParameterException

from awsspawner.tools.cluster_query import INSTANCE_ID, ExpressionError, matches

__all__ = ["STATE", "install"]


class EmulatorError(ServiceException):
    """An AWS error answer with any code (moto's own classes fix theirs)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(code, message)


class EmulatorState:
    """What the extension remembers besides moto's models; cleared by /moto-api/reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.client_tokens: dict[tuple[str, str], tuple[str, list[str]]] = {}
        self.loopback_count = 0
        self.fargate_agents: set[str] = set()
        self.agent_tasks: set[str] = set()  # ARNs whose lifecycle an agent drives
        #: Launch type or capacity provider -> the failures[] reason RunTask answers with
        #: (``POST /_emulator/capacity``): "no capacity here", as ECS says it.
        self.no_capacity: dict[str, str] = {}

    def next_loopback(self) -> str:
        """A fresh 127.100.x.y address: each awsvpc task gets its own, all on loopback."""
        n = self.loopback_count
        self.loopback_count += 1
        return f"127.100.{n // 250}.{n % 250 + 1}"


STATE = EmulatorState()


# ------------------------------------------------------------------------------- helpers


def _backend(response: Any) -> Any:
    return response.ecs_backend


def _cluster_tasks(backend: Any, cluster_str: str) -> dict[str, Any]:
    cluster = backend._get_cluster(cluster_str)  # raises ClusterNotFoundException
    return dict(backend.tasks.get(cluster.name, {}))


def _find_task(backend: Any, cluster_str: str, ref: str) -> Any | None:
    for arn, task in _cluster_tasks(backend, cluster_str).items():
        if ref in (arn, task.id):
            return task
    return None


def _timestamp(value: Any) -> datetime.datetime:
    """An agent's timestamp (epoch seconds, as botocore sends it) as moto keeps times."""
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc).replace(tzinfo=None)
    return utcnow()


def _init_lifecycle(task: Any, *, agent: bool) -> None:
    task.created_at = utcnow()
    for container in task.containers:
        container.exitCode = None  # moto says 0 before anything ran
        container.last_status = "PENDING"
        container.network_bindings = []
    if agent:
        task.status = "PROVISIONING"
        STATE.agent_tasks.add(task.task_arn)
    else:  # plain moto behaviour: born RUNNING
        task.started_at = task.created_at


def _loopback_eni(task: Any) -> None:
    address = STATE.next_loopback()
    for attachment in task.attachments:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment["details"]:
            if detail["name"] == "privateIPv4Address":
                detail["value"] = address
            if detail["name"] == "privateDnsName":
                detail["value"] = "ip-" + address.replace(".", "-") + ".ec2.internal"
        attachment["status"] = "PRECREATED"


def _free_resources(backend: Any, task: Any) -> None:
    """Give the task's resources back to its instance, once."""
    if getattr(task, "_emulator_freed", False) or not task.container_instance_arn:
        return
    task._emulator_freed = True
    instances = backend.container_instances.get(task.cluster_name, {})
    instance = instances.get(task.container_instance_arn.split("/")[-1])
    if instance is not None:
        backend.update_container_instance_resources(
            instance, task.resource_requirements, removing=True
        )


def _remaining(instance: Any, name: str) -> Any:
    for resource in instance.remaining_resources:
        if resource["name"] == name:
            return resource.get("stringSetValue", resource.get("integerValue"))
    return None


def _shortfall(instance: Any, needs: dict[str, Any]) -> str | None:
    if needs["CPU"] > _remaining(instance, "CPU"):
        return "RESOURCE:CPU"
    if needs["MEMORY"] > _remaining(instance, "MEMORY"):
        return "RESOURCE:MEMORY"
    used = set(_remaining(instance, "PORTS") or [])
    if any(str(port) in used for port in needs["PORTS"]):
        return "RESOURCE:PORTS"
    return None


def _is_external(instance: Any) -> bool:
    return str(instance.ec2_instance_id).startswith("mi-")


# -------------------------------------------------------------------------------- RunTask


def _fingerprint(params: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True)


def _constraints(task_definition: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    own = [c for c in (task_definition.placement_constraints or []) if c]
    return own + list(params.get("placementConstraints") or [])


def _place(
    backend: Any, cluster: Any, task_definition: Any, params: dict[str, Any]
) -> tuple[Any, dict[str, str] | None]:
    """(the container instance a task goes to, None) or (None, an ECS failure entry)."""
    launch_type = params.get("launchType") or "EC2"
    instances = [
        i
        for i in backend.container_instances.get(cluster.name, {}).values()
        if i.status == "ACTIVE" and _is_external(i) == (launch_type == "EXTERNAL")
    ]
    if not instances:
        raise InvalidParameterException("No Container Instances were found in your cluster.")
    group = params.get("group") or f"family:{task_definition.family}"
    constraints = _constraints(task_definition, params)
    reasons: list[tuple[str, str]] = []
    for instance in sorted(instances, key=lambda i: i.registered_at):
        attributes = {k: str(v) for k, v in instance.attributes.items()}
        attributes[INSTANCE_ID] = str(instance.ec2_instance_id)
        unmet = None
        for constraint in constraints:
            if constraint.get("type") == "memberOf":
                try:
                    ok = matches(constraint.get("expression", ""), attributes)
                except ExpressionError as exc:
                    raise InvalidParameterException(f"Invalid constraint: {exc}") from exc
                if not ok:
                    unmet = "MemberOf placement constraint unsatisfied."
            elif constraint.get("type") == "distinctInstance":
                busy = any(
                    t.container_instance_arn == instance.container_instance_arn
                    and t.group == group
                    and t.desired_status == "RUNNING"
                    for t in backend.tasks.get(cluster.name, {}).values()
                )
                if busy:
                    unmet = "DistinctInstance placement constraint unsatisfied."
        arn = instance.container_instance_arn
        if unmet:
            reasons.append((unmet, arn))
            continue
        short = _shortfall(instance, backend._calculate_task_resource_requirements(task_definition))
        if short:
            reasons.append((short, arn))
            continue
        return instance, None
    # ECS names the most telling reason; resources beat constraints when both happened.
    resource = [r for r in reasons if r[0].startswith("RESOURCE:")]
    reason, arn = (resource or reasons)[0]
    return None, {"arn": arn, "reason": reason}


def _run_on_instances(
    response: Any, params: dict[str, Any]
) -> tuple[list[Any], list[dict[str, str]]]:
    backend = _backend(response)
    cluster = backend._get_cluster(params.get("cluster", "default"))
    task_definition = backend.describe_task_definition(params["taskDefinition"])
    tasks, failures = [], []
    for _ in range(int(params.get("count", 1))):
        placed, failure = _place(backend, cluster, task_definition, params)
        if failure is not None:
            failures.append(failure)
            continue
        needs = backend._calculate_task_resource_requirements(task_definition)
        task = ecs_models.Task(
            cluster,
            task_definition,
            placed.container_instance_arn,
            needs,
            backend=backend,
            group=params.get("group") or f"family:{task_definition.family}",
            launch_type=params.get("launchType") or "EC2",
            overrides=params.get("overrides") or {},
            started_by=params.get("startedBy") or "",
            tags=params.get("tags") or [],
            networking_configuration=params.get("networkConfiguration"),
        )
        backend.update_container_instance_resources(placed, needs)
        backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        if task.attachments:
            _loopback_eni(task)
        _init_lifecycle(task, agent=True)
        tasks.append(task)
    return tasks, failures


def _no_capacity(launch_type: str | None, strategy: list[dict[str, Any]]) -> str | None:
    """The capacity failure set for this launch type, or for every provider of the strategy."""
    if launch_type:
        return STATE.no_capacity.get(launch_type)
    reasons = [STATE.no_capacity.get(str(item.get("capacityProvider"))) for item in strategy]
    if reasons and all(reasons):
        return reasons[0]
    return None


def interrupt(backend: Any, cluster_str: str, ref: str, stop_code: str) -> Any:
    """AWS reclaims the task's Spot capacity: desiredStatus STOPPED with the stop code, as
    ECS sets it at the two-minute notice. An agent-run task gets SIGTERM from its agent (and
    SIGKILL after the agent's --stop-timeout: the shortened notice); any other stops now."""
    task = _find_task(backend, cluster_str, ref)
    if task is None:
        raise KeyError(f"no task {ref} in cluster {cluster_str}")
    task.desired_status = "STOPPED"
    task.stop_code = stop_code
    task.stopped_reason = (
        "Your Spot Task was interrupted."
        if stop_code == "SpotInterruption"
        else "The Spot instance the task ran on is being terminated."
    )
    task.stopping_at = utcnow()
    if task.task_arn not in STATE.agent_tasks or task.last_status == "PROVISIONING":
        _mark_stopped(backend, task)
    return task


def run_task(self: Any) -> ActionResult:
    params = json.loads(self.body or "{}")
    backend = _backend(self)
    cluster = backend._get_cluster(params.get("cluster", "default"))
    token = params.get("clientToken")
    if token:
        known = STATE.client_tokens.get((cluster.name, token))
        if known is not None:
            fingerprint, arns = known
            if fingerprint != _fingerprint(params):
                raise EmulatorError(
                    "ConflictException",
                    "The specified client token has already been used with different parameters.",
                )
            tasks = [backend.tasks[cluster.name][arn] for arn in arns]
            return ActionResult({"tasks": tasks, "failures": []})
    strategy = params.get("capacityProviderStrategy") or []
    # Neither a launch type nor a strategy: the cluster's default strategy decides, as in ECS.
    chosen = strategy or (
        [] if params.get("launchType") else cluster.default_capacity_provider_strategy or []
    )
    refusal = _no_capacity(params.get("launchType"), chosen)
    if refusal is not None:
        return ActionResult({"tasks": [], "failures": [{"arn": cluster.arn, "reason": refusal}]})
    fargate = params.get("launchType") == "FARGATE" or (
        not params.get("launchType")
        and chosen
        and chosen[0].get("capacityProvider") in ("FARGATE", "FARGATE_SPOT")
    )
    if fargate:
        tasks = backend.run_task(
            cluster.name,
            params["taskDefinition"],
            int(params.get("count", 1)),
            params.get("overrides"),
            params.get("startedBy"),
            params.get("tags"),
            params.get("launchType"),
            params.get("networkConfiguration"),
            params.get("group"),
            params.get("platformVersion"),
            strategy or None,
        )
        for task in tasks:
            _loopback_eni(task)
            _init_lifecycle(task, agent=bool(STATE.fargate_agents))
        failures: list[dict[str, Any]] = []
    else:
        tasks, failures = _run_on_instances(self, params)
    if token and tasks:
        STATE.client_tokens[(cluster.name, token)] = (
            _fingerprint(params),
            [t.task_arn for t in tasks],
        )
    return ActionResult({"tasks": tasks, "failures": failures})


# ------------------------------------------------------------------------ describe / stop


def describe_tasks(self: Any) -> ActionResult:
    backend = _backend(self)
    cluster = self._get_param("cluster", "default")
    refs = self._get_param("tasks", [])
    if not refs:
        raise InvalidParameterException("Tasks cannot be empty.")
    if len(refs) > 100:
        raise InvalidParameterException("Tasks cannot have more than 100 elements.")
    by_ref = {}
    for arn, task in _cluster_tasks(backend, cluster).items():
        by_ref[arn] = by_ref[task.id] = task
    tasks, failures = [], []
    for ref in refs:
        task = by_ref.get(ref)
        if task is None:
            failures.append({"arn": ref, "reason": "MISSING"})
        elif task not in tasks:
            if task.task_arn not in STATE.agent_tasks:
                task.advance()
            tasks.append(task)
    if "TAGS" in (self._get_param("include") or []):
        self._include_in_response(ecs_responses.DESCRIBE_TASKS_TAGS)
    else:
        self._exclude_from_response(ecs_responses.DESCRIBE_TASKS_TAGS)
    return ActionResult({"tasks": tasks, "failures": failures})


def stop_task(self: Any) -> ActionResult:
    backend = _backend(self)
    cluster = self._get_param("cluster", "default")
    task = _find_task(backend, cluster, self._get_param("task"))
    if task is None:
        raise InvalidParameterException("The referenced task was not found.")
    if task.desired_status != "STOPPED":
        task.desired_status = "STOPPED"
        task.stopped_reason = self._get_param("reason") or "Task stopped by user"
        task.stop_code = "UserInitiated"
        task.stopping_at = utcnow()
        # No agent has picked it up yet (or none ever will): ECS stops it right away.
        if task.task_arn not in STATE.agent_tasks or task.last_status == "PROVISIONING":
            _mark_stopped(backend, task)
    return ActionResult({"task": task})


def _mark_stopped(backend: Any, task: Any) -> None:
    task.status = "STOPPED"
    task.desired_status = "STOPPED"
    now = utcnow()
    task.stopped_at = task.execution_stopped_at = now
    for container in task.containers:
        container.last_status = "STOPPED"
    _free_resources(backend, task)


# --------------------------------------------------------------------- the agent's reports


def _apply_container_change(task: Any, change: dict[str, Any]) -> None:
    for container in task.containers:
        if container.name != change.get("containerName"):
            continue
        if change.get("status"):
            container.last_status = change["status"]
        if change.get("exitCode") is not None:
            container.exitCode = int(change["exitCode"])
        if change.get("reason"):
            container.reason = change["reason"]
        if change.get("networkBindings") is not None:
            container.network_bindings = change["networkBindings"]
        if change.get("runtimeId"):
            container.runtime_id = change["runtimeId"]


def submit_task_state_change(self: Any) -> ActionResult:
    backend = _backend(self)
    task = _find_task(backend, self._get_param("cluster", "default"), self._get_param("task"))
    if task is None:
        raise InvalidParameterException("The referenced task was not found.")
    if task.last_status == "STOPPED":  # late reports of a task ECS already stopped
        return ActionResult({"acknowledgment": "ACK"})
    for change in self._get_param("containers") or []:
        _apply_container_change(task, change)
    for name in ("pullStartedAt", "pullStoppedAt", "executionStoppedAt"):
        if self._get_param(name) is not None:
            setattr(task, camelcase_to_underscores(name), _timestamp(self._get_param(name)))
    status = self._get_param("status")
    if status == "RUNNING" and task.last_status != "RUNNING":
        task.status = "RUNNING"
        task.started_at = utcnow()
    elif status == "STOPPED":
        if not getattr(task, "stop_code", None):
            ran = any(c.exitCode is not None for c in task.containers)
            task.stop_code = "EssentialContainerExited" if ran else "TaskFailedToStart"
            task.stopped_reason = (
                "Essential container in task exited"
                if ran
                else self._get_param("reason") or "Task failed to start"
            )
        _mark_stopped(backend, task)
    elif status:
        task.status = status
    return ActionResult({"acknowledgment": "ACK"})


def submit_container_state_change(self: Any) -> ActionResult:
    backend = _backend(self)
    task = _find_task(backend, self._get_param("cluster", "default"), self._get_param("task"))
    if task is None:
        raise InvalidParameterException("The referenced task was not found.")
    change = {
        key: self._get_param(key)
        for key in ("containerName", "status", "exitCode", "reason", "networkBindings", "runtimeId")
    }
    _apply_container_change(task, change)
    return ActionResult({"acknowledgment": "ACK"})


def submit_attachment_state_changes(self: Any) -> ActionResult:
    backend = _backend(self)
    wanted = {a["attachmentArn"]: a["status"] for a in self._get_param("attachments") or []}
    for task in _cluster_tasks(backend, self._get_param("cluster", "default")).values():
        for attachment in task.attachments:
            status = wanted.get(attachment.get("id"))
            if status:
                attachment["status"] = status
    return ActionResult({"acknowledgment": "ACK"})


# ------------------------------------------------------------- container instances, taskdefs


class _ExternalInstance:
    """What moto's ContainerInstance reads from an EC2 instance, for an ``mi-`` node."""

    image_id = None
    instance_type = None
    platform = None

    def __init__(self, region: str) -> None:
        self.availability_zone = f"{region}a"


@contextlib.contextmanager
def _no_ec2_lookup(account_id: str, region: str) -> Iterator[None]:
    ec2 = ec2_backends[account_id][region]
    ec2.get_instance = lambda _id: _ExternalInstance(region)  # type: ignore[method-assign]
    try:
        yield
    finally:
        del ec2.get_instance


def register_container_instance(self: Any) -> ActionResult:
    backend = _backend(self)
    cluster = self._get_param("cluster", "default")
    document = json.loads(self._get_param("instanceIdentityDocument") or "{}")
    instance_id = str(document.get("instanceId", ""))
    if instance_id.startswith("mi-"):
        with _no_ec2_lookup(backend.account_id, backend.region_name):
            instance = backend.register_container_instance(cluster, instance_id)
        for key in ("ecs.ami-id", "ecs.instance-type"):
            instance.attributes.pop(key, None)
    else:
        instance = backend.register_container_instance(cluster, instance_id)
    for attribute in self._get_param("attributes") or []:
        instance.attributes[attribute["name"]] = attribute.get("value")
    for resource in self._get_param("totalResources") or []:
        for listing in (instance.registered_resources, instance.remaining_resources):
            for existing in listing:
                if existing["name"] == resource["name"]:
                    existing.update(resource)
    return ActionResult({"containerInstance": instance})


_original_register_task_definition = ecs_models.EC2ContainerServiceBackend.register_task_definition


def register_task_definition(self: Any, *args: Any, **kwargs: Any) -> Any:
    definition = _original_register_task_definition(self, *args, **kwargs)
    wanted = kwargs.get("network_mode")
    if wanted is None and len(args) > 3:  # (family, container_definitions, volumes, network_mode)
        wanted = args[3]
    # moto stores every non-EC2 definition as awsvpc; ECS keeps what was asked.
    if wanted:
        definition.network_mode = wanted
    return definition


_original_requirements = ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements


def task_resource_requirements(task_definition: Any) -> dict[str, Any]:
    """What a task takes from its node. A container may leave its memory to the task's
    (Fargate, or any task definition with task-level memory): moto adds its None and fails
    the RunTask with a 500; ECS counts the task's memory."""
    containers = task_definition.container_definitions
    if all(c.get("memory") or c.get("memoryReservation") for c in containers):
        return _original_requirements(task_definition)  # type: ignore[no-any-return]
    view = copy.copy(task_definition)
    view.container_definitions = [
        {**c, "memory": c.get("memory") or c.get("memoryReservation") or 0} for c in containers
    ]
    needs = _original_requirements(view)
    needs["MEMORY"] = max(needs["MEMORY"], int(task_definition.memory or 0))
    return needs  # type: ignore[no-any-return]


_original_list_tasks = ecs_models.EC2ContainerServiceBackend.list_tasks


def list_tasks(
    self: Any,
    cluster_str: str | None = None,
    container_instance: str | None = None,
    family: str | None = None,
    started_by: str | None = None,
    service_name: str | None = None,
    desiredStatus: str | None = None,
) -> list[Any]:
    """moto's filter on containerInstance fails on Fargate tasks (which have none)."""
    tasks = _original_list_tasks(
        self, cluster_str, None, family, started_by, service_name, desiredStatus
    )
    if container_instance:
        tasks = [
            t
            for t in tasks
            if t.container_instance_arn and container_instance in t.container_instance_arn
        ]
    return tasks  # type: ignore[no-any-return]


def install() -> None:
    """Patch moto's ECS response handlers and backend (idempotent)."""
    response = ecs_responses.EC2ContainerServiceResponse
    response.run_task = run_task
    response.describe_tasks = describe_tasks
    response.stop_task = stop_task
    response.register_container_instance = register_container_instance
    response.submit_task_state_change = submit_task_state_change
    response.submit_container_state_change = submit_container_state_change
    response.submit_attachment_state_changes = submit_attachment_state_changes
    ecs_models.EC2ContainerServiceBackend.register_task_definition = register_task_definition
    ecs_models.EC2ContainerServiceBackend.list_tasks = list_tasks
    ecs_models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(
        task_resource_requirements
    )
