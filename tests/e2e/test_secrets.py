"""Administrators' secrets and per-user task roles, through a real hub.

The demo's "fargate-secrets" profile gives the notebook server DATABASE_PASSWORD from Secrets
Manager and API_KEY from an SSM SecureString, and a task role per user from the template
``arn:aws:iam::123456789012:role/jupyter/user-{username}``. The emulator's ECS agent fetches
the secrets as the real agent does, with the task execution role, and tells the server its
task role (``EMULATOR_TASK_ROLE_ARN``, what the credentials endpoint would say).
"""

from __future__ import annotations

import json

from demo.stack import CLUSTER, DEMO_SECRET_VALUES, HubStack

from ..helpers import task_environment
from .hubclient import HubClient, tasks_of, wait_task_status
from .test_hub import assert_stopped_cleanly, only_task, spawn_ready

PROFILE = "fargate-secrets"


async def test_the_server_gets_the_secrets_that_aws_shows_only_as_arns(
    hub: HubClient, stack: HubStack
) -> None:
    users = ["secret-ann", "secret-Ben"]
    roles = []
    for user in users:
        await spawn_ready(hub, user, profile=PROFILE)
        task = await only_task(stack, user)
        environment = task_environment(task["taskArn"])
        assert environment["DATABASE_PASSWORD"] == DEMO_SECRET_VALUES["DATABASE_PASSWORD"]
        assert environment["API_KEY"] == DEMO_SECRET_VALUES["API_KEY"]
        roles.append(environment["EMULATOR_TASK_ROLE_ARN"])
        # AWS's view: ARNs, never the values.
        ecs = stack.emulator.client("ecs")
        described = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"][0]
        revision = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
        container = revision["taskDefinition"]["containerDefinitions"][0]
        assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == {
            "DATABASE_PASSWORD": stack.secret_arn,
            "API_KEY": stack.parameter_arn,
        }
        seen = json.dumps([described, revision], default=str) + "".join(
            stack.emulator.request_bodies("ecs:RunTask")
            + stack.emulator.request_bodies("ecs:RegisterTaskDefinition")
        )
        for value in DEMO_SECRET_VALUES.values():
            assert value not in seen
        await hub.stop(user)
        await assert_stopped_cleanly(stack, task["taskArn"])
    # Two users, two roles: the names escaped to IAM's case-blind rules.
    assert roles == [
        "arn:aws:iam::123456789012:role/jupyter/user-secret-ann",
        "arn:aws:iam::123456789012:role/jupyter/user-secret-=42en",
    ]


async def test_a_secret_that_is_gone_fails_the_spawn_with_ecs_reason(
    hub: HubClient, stack: HubStack
) -> None:
    user = "secret-gone"
    ssm = stack.emulator.client("ssm")
    ssm.delete_parameter(Name="/demo/api-key")
    try:
        await hub.create_user(user)
        status, body = await hub.start(user, profile=PROFILE)
        assert status in (201, 202), body
        events = [event async for event in hub.progress(user)]
        assert events[-1].get("failed"), events
        message = events[-1]["message"]
        assert "ResourceInitializationError: unable to pull secrets" in message
        assert "invalid ssm parameters: /demo/api-key" in message
        # The task ECS started could not start its container: it is stopped, none runs.
        for task in tasks_of(stack, user):
            await wait_task_status(stack, task["taskArn"], "STOPPED")
        assert tasks_of(stack, user)
    finally:  # the same name gives the same ARN: the profile works again
        ssm.put_parameter(
            Name="/demo/api-key", Value=DEMO_SECRET_VALUES["API_KEY"], Type="SecureString"
        )
