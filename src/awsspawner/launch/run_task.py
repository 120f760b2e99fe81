"""Pure: one spawn's settings -> the keyword arguments of ECS RunTask.

Nothing here talks to AWS, so every rule below is unit-tested without a server. The rules
that earlier ECS spawners broke, and that botocore or ECS reject:

* task-level ``cpu`` and ``memory`` overrides are strings; ``memoryReservation`` exists only on
  the container override;
* ``taskRoleArn`` only when one is configured;
* ``launchType`` and ``capacityProviderStrategy`` never together, and no empty strategy;
* ``networkConfiguration`` only for awsvpc task definitions, with ``assignPublicIp`` spelled
  out (a public notebook port would bypass the hub's proxy), and ENABLED only where ECS gives
  public IPs (Fargate; not EC2, EC2 capacity providers or EXTERNAL);
* no task definition with networkMode ``none`` (its notebook could never be reached);
* ``placementConstraints`` only where ECS accepts them (not on Fargate);
* ``startedBy`` identifies the hub, tags identify user, server and hub, in ECS's characters;
* at most 50 tags on the task, counting those ``propagateTags=TASK_DEFINITION`` copies from
  the revision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from .spawn_settings import MAX_PLACEMENT_CONSTRAINTS, SpawnSettings
from .tags import (
    MAX_TAGS,
    TAG_HUB,
    TAG_PORT,
    TAG_PROFILE,
    TAG_SERVER,
    TAG_SPAWN,
    TAG_USER,
    TAG_USER_ID,
    counted_tags,
    escape_tag_value,
    started_by_for_hub,
)
from .task_definitions import TaskDefinitionInfo
from .token_file import FROM_S3, SECRET_VARIABLES, TokenFile

__all__ = [
    "MAX_OVERRIDES_CHARS",
    "SpawnIdentity",
    "build_run_task_request",
    "build_tags",
]

MAX_OVERRIDES_CHARS = 8192
#: ECS's limit of environment files per container.
MAX_ENVIRONMENT_FILES = 10


@dataclass(frozen=True)
class SpawnIdentity:
    """Whose server this task is: what the tags and startedBy are made from."""

    username: str
    server_name: str = ""
    profile: str = ""
    user_id: str = ""


def build_tags(
    settings: SpawnSettings, identity: SpawnIdentity, client_token: str = "", port: str = ""
) -> list[dict[str, str]]:
    """The task's tags: the admin's ``task_tags``, then owner, user, server, hub, spawn, port."""
    tags = dict(settings.task_tags)
    user = escape_tag_value(identity.username)
    tags[settings.task_owner_tag_name] = user
    tags[TAG_USER] = user
    if identity.user_id:
        tags[TAG_USER_ID] = escape_tag_value(identity.user_id)
    tags[TAG_SERVER] = escape_tag_value(identity.server_name)
    tags[TAG_HUB] = escape_tag_value(settings.hub_id)
    if identity.profile:
        tags[TAG_PROFILE] = escape_tag_value(identity.profile)
    if client_token:
        tags[TAG_SPAWN] = escape_tag_value(client_token)
    if port:
        tags[TAG_PORT] = port
    return [{"key": key, "value": value} for key, value in tags.items()]


def _check_tag_budget(
    settings: SpawnSettings, taskdef: TaskDefinitionInfo, tags: list[dict[str, str]]
) -> None:
    """ECS refuses RunTask when the task would carry more than 50 tags; with
    ``propagateTags=TASK_DEFINITION`` the revision's tags are copied onto it and count."""
    if settings.propagate_tags != "TASK_DEFINITION":
        return
    own = {tag["key"]: tag["value"] for tag in tags}
    # A key on both sides ends up as one tag on the task (the request's value wins).
    total = counted_tags({**taskdef.tags, **own})
    if total > MAX_TAGS:
        raise ConfigurationError(
            "task_tags",
            f"the task would carry {total} tags, ECS allows {MAX_TAGS}: awsspawner and "
            f"c.AWSSpawner.task_tags set {counted_tags(own)}, and c.AWSSpawner.propagate_tags "
            f"= 'TASK_DEFINITION' copies the {counted_tags(taskdef.tags)} tags of "
            f"{taskdef.arn}. Remove task_tags, tags of the task definition, or set "
            "c.AWSSpawner.propagate_tags = 'NONE'",
        )


def _launch_fields(settings: SpawnSettings) -> dict[str, Any]:
    launch = settings.launch
    if launch.launch_type:
        return {"launchType": launch.launch_type}
    if launch.strategy:
        return {"capacityProviderStrategy": [dict(item) for item in launch.strategy]}
    return {}  # the cluster's default capacity provider strategy


def _network_fields(settings: SpawnSettings, taskdef: TaskDefinitionInfo) -> dict[str, Any]:
    launch = settings.launch
    if taskdef.network_mode == "none":
        raise ConfigurationError(
            "task_definition_family",
            f"{taskdef.arn} uses networkMode 'none': its containers have no network, so the "
            "hub could never reach the notebook server; use awsvpc (Fargate, EC2), bridge or "
            "host (EC2, EXTERNAL)",
        )
    if taskdef.network_mode != "awsvpc":
        if launch.certainly_fargate:
            raise ConfigurationError(
                "task_definition_family",
                f"{taskdef.arn} uses networkMode {taskdef.network_mode!r}, but Fargate "
                "tasks need 'awsvpc'",
            )
        return {}
    if launch.is_external:
        raise ConfigurationError(
            "task_definition_family",
            f"{taskdef.arn} uses networkMode 'awsvpc', which ECS Anywhere (EXTERNAL) does "
            "not support; use bridge or host",
        )
    if not settings.task_subnets:
        raise ConfigurationError(
            "task_subnets",
            f"is required: task definition {taskdef.arn} uses awsvpc networking",
        )
    return {
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": list(settings.task_subnets),
                "securityGroups": list(settings.task_security_groups),
                "assignPublicIp": "ENABLED" if settings.sends_public_ip else "DISABLED",
            }
        }
    }


def _overrides(
    settings: SpawnSettings,
    taskdef: TaskDefinitionInfo,
    command: Sequence[str] | None,
    environment: Mapping[str, str],
    token_file: TokenFile | None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": settings.task_container_name}
    if command:
        container["command"] = list(command)
    if environment:
        container["environment"] = [
            {"name": str(name), "value": str(value)} for name, value in environment.items()
        ]
    if token_file is not None:
        # An override replaces the container's own files: send them along, ours last.
        declared = taskdef.environment_files.get(settings.task_container_name, ())
        container["environmentFiles"] = [*map(dict, declared), token_file.override_entry()]
    if settings.memory_reservation is not None:
        container["memoryReservation"] = int(settings.memory_reservation)
    overrides: dict[str, Any] = {"containerOverrides": [container]}
    if settings.cpu is not None:
        overrides["cpu"] = str(settings.cpu)
    if settings.memory is not None:
        overrides["memory"] = str(settings.memory)
    if settings.task_role_arn:
        overrides["taskRoleArn"] = settings.task_role_arn
    if settings.execution_role_arn:
        overrides["executionRoleArn"] = settings.execution_role_arn
    size = len(json.dumps(overrides, separators=(",", ":")))
    if size > MAX_OVERRIDES_CHARS:
        # Report sizes and names only: the values include the hub's API token.
        raise ConfigurationError(
            "environment",
            f"RunTask overrides would be {size} characters; ECS allows "
            f"{MAX_OVERRIDES_CHARS}. Move large values into the task definition "
            f"(environment variables: {', '.join(sorted(environment))})",
        )
    return overrides


def _check_token_file(
    settings: SpawnSettings,
    taskdef: TaskDefinitionInfo,
    environment: Mapping[str, str],
    token_file: TokenFile | None,
) -> None:
    if settings.api_token_source != FROM_S3:
        return
    if token_file is None or set(environment) & set(SECRET_VARIABLES):
        raise ValueError("api_token_source 's3': the token goes in a token file, not the request")
    if not (settings.execution_role_arn or taskdef.execution_role_arn):
        raise ConfigurationError(
            "execution_role_arn",
            "is required with api_token_source 's3': the ECS agent reads the token file with "
            f"the task execution role, and {taskdef.arn} names none",
        )
    container = settings.task_container_name
    shadowing = taskdef.environment_names.get(container, frozenset()) & set(SECRET_VARIABLES)
    if shadowing:
        # ECS gives a container definition's `environment` precedence over environment files.
        raise ConfigurationError(
            "task_definition_family",
            f"{taskdef.arn} sets {', '.join(sorted(shadowing))} in the environment of "
            f"container {container!r}, which would hide the server's own token from its file "
            "(api_token_source 's3'); remove it from the task definition",
        )
    if len(taskdef.environment_files.get(container, ())) + 1 > MAX_ENVIRONMENT_FILES:
        raise ConfigurationError(
            "task_definition_family",
            f"container {container!r} of {taskdef.arn} already has {MAX_ENVIRONMENT_FILES} "
            "environment files, ECS's most: there is no room for the token file",
        )


def _check_secrets(settings: SpawnSettings, taskdef: TaskDefinitionInfo) -> None:
    if not isinstance(settings.task_role_arn, str) or "{" in settings.task_role_arn:
        raise ValueError("task_role_arn must be resolved to an ARN before the request")
    if not settings.secrets:
        return
    if not (settings.execution_role_arn or taskdef.execution_role_arn):
        raise ConfigurationError(
            "execution_role_arn",
            "is required with c.AWSSpawner.secrets: the ECS agent fetches secrets with the "
            f"task execution role, and {taskdef.arn} names none",
        )


def build_run_task_request(
    settings: SpawnSettings,
    taskdef: TaskDefinitionInfo,
    identity: SpawnIdentity,
    *,
    command: Sequence[str] | None,
    environment: Mapping[str, str],
    client_token: str,
    port: str = "",
    token_file: TokenFile | None = None,
) -> dict[str, Any]:
    """The complete RunTask kwargs for one spawn. Raises ConfigurationError, calls nothing.

    ``port``: the host port ``use_dynamic_port`` reserved, recorded in a tag.
    ``token_file``: with ``api_token_source = 's3'``, the env file holding the token
    variables; ``environment`` must not hold them then (see token_file.split_secrets)."""
    if settings.task_container_name not in taskdef.container_names:
        raise ConfigurationError(
            "task_container_name",
            f"{settings.task_container_name!r} is not a container of {taskdef.arn}; it has "
            f"{', '.join(repr(n) for n in taskdef.container_names) or 'none'}",
        )
    _check_token_file(settings, taskdef, environment, token_file)
    _check_secrets(settings, taskdef)
    request: dict[str, Any] = {
        "cluster": settings.task_cluster_name,
        "taskDefinition": taskdef.arn,
        "count": 1,
        "startedBy": started_by_for_hub(settings.hub_id),
        "clientToken": client_token,
        "overrides": _overrides(settings, taskdef, command, environment, token_file),
        "tags": build_tags(settings, identity, client_token, port),
        "enableECSManagedTags": bool(settings.enable_ecs_managed_tags),
        **_launch_fields(settings),
        **_network_fields(settings, taskdef),
    }
    if settings.propagate_tags:
        request["propagateTags"] = settings.propagate_tags
    _check_tag_budget(settings, taskdef, request["tags"])
    if settings.sends_placement_constraints:
        request["placementConstraints"] = [dict(c) for c in settings.placement_constraints]
        total = len(settings.placement_constraints) + taskdef.placement_constraint_count
        if total > MAX_PLACEMENT_CONSTRAINTS:
            raise ConfigurationError(
                "placement_constraints",
                f"{len(settings.placement_constraints)} configured and "
                f"{taskdef.placement_constraint_count} in {taskdef.arn} make {total}; ECS allows "
                f"{MAX_PLACEMENT_CONSTRAINTS} per task, counting the task definition's",
            )
    if settings.platform_version:
        request["platformVersion"] = settings.platform_version
    return request
