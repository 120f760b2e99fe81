"""Administrators' secrets (``c.AWSSpawner.secrets``) and per-user task roles
(``task_role_arn`` as a template or a function).

Pure tests of the checks, the escaping and the revision (against botocore's model and the
strict emulator's RegisterTaskDefinition rules); then spawns against the emulator, whose
Fargate agent fetches secrets as ECS's agent does. The end-to-end view (a real hub, the
server's environment) is tests/e2e/test_secrets.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jupyterhub.spawner import SpawnException

from awsspawner.errors import ConfigurationError
from awsspawner.launch.secrets import TaskSecrets
from awsspawner.launch.task_definitions import derived_registration
from awsspawner.launch.task_roles import RoleTemplate, is_role_arn

from .conftest import CLUSTER, CONTAINER, SMALL_FARGATE, make_spawner
from .emulator import strict
from .emulator.launcher import Emulator
from .helpers import task_environment

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/db-AbCdEf"
PARAMETER = "arn:aws:ssm:us-east-1:123456789012:parameter/team/api-key"
ROLE = "arn:aws:iam::123456789012:role/jupyter/user-{username}"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"

BASE: dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/nb:4",
    "family": "nb",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "1024",
    "memory": "2048",
    "executionRoleArn": EXECUTION_ROLE,
    "containerDefinitions": [
        {
            "name": CONTAINER,
            "image": "img:1",
            "secrets": [{"name": "OWN", "valueFrom": PARAMETER + "-own"}],
        }
    ],
}


# ------------------------------------------------------------------------------ secrets


def test_secrets_go_into_the_revision_by_arn() -> None:
    secrets = TaskSecrets.of({"DB_PASSWORD": SECRET, "API_KEY": PARAMETER})
    kwargs = derived_registration(BASE, [], container=CONTAINER, image="img:1", secrets=secrets)
    strict.validate_shape("ecs", "RegisterTaskDefinition", kwargs)
    strict.check_register_task_definition(kwargs)
    assert kwargs["family"].startswith("nb-img-")
    assert kwargs["containerDefinitions"][0]["secrets"] == [
        {"name": "OWN", "valueFrom": PARAMETER + "-own"},  # the base's own stay
        {"name": "API_KEY", "valueFrom": PARAMETER},
        {"name": "DB_PASSWORD", "valueFrom": SECRET},
    ]
    other = TaskSecrets.of({"DB_PASSWORD": SECRET})
    again = derived_registration(BASE, [], container=CONTAINER, image="img:1", secrets=other)
    assert again["family"] != kwargs["family"]  # other secrets, another revision


def test_a_secret_named_as_the_base_revisions_own_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.secrets.*OWN"):
        derived_registration(
            BASE, [], container=CONTAINER, image="img:1", secrets=TaskSecrets.of({"OWN": SECRET})
        )


@pytest.mark.parametrize(
    ("secrets", "problem"),
    [
        ({"1ABC": SECRET}, "not an environment variable name"),
        ({"JUPYTERHUB_API_TOKEN": SECRET}, "shadow a variable the hub sets"),
        ({"DB": "my-password"}, "not the ARN of a Secrets Manager secret"),
        ({"DB": "arn:aws:s3:::bucket/key"}, "not the ARN"),
        ({"DB": SECRET.replace("123456789012", "1234")}, "not the ARN"),
    ],
)
def test_bad_secrets_are_refused_when_the_hub_starts(secrets: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.secrets") as info:
        make_spawner(secrets=secrets)
    assert problem in str(info.value)
    assert "my-password" not in str(info.value)  # a pasted value is never echoed


def test_a_secrets_manager_json_key_suffix_is_accepted() -> None:
    make_spawner(secrets={"DB_USER": SECRET + ":username::"})


def test_a_profile_with_bad_secrets_is_refused_when_the_hub_starts() -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.(profile_list|secrets)"):
        make_spawner(
            profile_list=[
                {"display_name": "x", "slug": "x", "spawner_override": {"secrets": {"A": "b"}}}
            ]
        )


# --------------------------------------------------------------------------------- roles


def test_role_names_follow_iams_rules_and_its_case_blindness() -> None:
    template = RoleTemplate.parse(ROLE)
    assert template.render("ann") == "arn:aws:iam::123456789012:role/jupyter/user-ann"
    assert template.render("Ann").endswith("/user-=41nn")
    assert template.render("a=b").endswith("/user-a=3Db")
    assert template.render("ann smith").endswith("/user-ann=20smith")
    long = template.render("x" * 200)
    assert is_role_arn(long)
    assert len(long.rsplit("/", 1)[1]) == 64


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_two_users_never_share_a_role(first: str, second: str) -> None:
    template = RoleTemplate.parse(ROLE)
    one, two = template.render(first), template.render(second)
    assert is_role_arn(one)
    assert len(one.rsplit("/", 1)[1]) <= 64
    if first != second:
        assert one.lower() != two.lower()  # IAM compares role names without case


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("arn:aws:iam::123456789012:role/{username}/x", "in the role's name"),
        ("arn:aws:iam::123456789012:role/a b-{username}", "in the role's name"),
        ("arn:aws:iam::123456789012:role/u-{username}-{username}", "once"),
        ("arn:aws:iam::123456789012:role/" + "x" * 50 + "{username}", "shorten its fixed"),
        ("arn:aws:iam::123456789012:user/{username}", "in the role's name"),
        ("arn:aws:iam::123456789012:role/u-{servername}", "once"),
    ],
)
def test_a_role_template_that_cannot_work_is_refused_when_the_hub_starts(
    template: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.task_role_arn") as info:
        make_spawner(task_role_arn=template)
    assert problem in str(info.value)


# ------------------------------------------------------------------------- with AWS


@pytest.fixture
def fargate_with_secrets(emulator: Emulator, fargate: str) -> dict[str, str]:
    # The family's newest revision: the small Fargate one, with an execution role.
    emulator.client("ecs").register_task_definition(
        **SMALL_FARGATE, executionRoleArn=EXECUTION_ROLE
    )
    emulator.add_agent(CLUSTER, fargate=True)
    secret = emulator.client("secretsmanager").create_secret(
        Name="team/db", SecretString=json.dumps({"password": "hunter2-but-longer"})
    )["ARN"]
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/team/api-key", Value="key-123-secret", Type="SecureString")
    parameter = ssm.get_parameter(Name="/team/api-key")["Parameter"]["ARN"]
    return {"subnet": fargate, "secret": secret, "parameter": parameter}


def secret_spawner(setup: dict[str, str], user: str = "ann", **config: Any) -> Any:
    import sys
    from pathlib import Path

    return make_spawner(
        user=user,
        launch_type="FARGATE",
        task_subnets=[setup["subnet"]],
        cmd=[sys.executable, str(Path(__file__).with_name("fake_notebook.py"))],
        secrets={
            "DB_PASSWORD": setup["secret"] + ":password::",
            "API_KEY": setup["parameter"],
        },
        **config,
    )


async def test_the_server_gets_the_values_and_the_role_the_hub_never_saw(
    emulator: Emulator, fargate_with_secrets: dict[str, str]
) -> None:
    async def role_of(spawner: Any) -> str:
        return f"arn:aws:iam::123456789012:role/from-a-function-{spawner.user.name}"

    spawner = secret_spawner(fargate_with_secrets, task_role_arn=role_of)
    await spawner.start()
    environment = task_environment(spawner.task_arn)
    assert environment["DB_PASSWORD"] == "hunter2-but-longer"
    assert environment["API_KEY"] == "key-123-secret"
    assert environment["EMULATOR_TASK_ROLE_ARN"] == (
        "arn:aws:iam::123456789012:role/from-a-function-ann"
    )
    sent = "".join(
        emulator.request_bodies("ecs:RunTask")
        + emulator.request_bodies("ecs:RegisterTaskDefinition")
    )
    assert "hunter2" not in sent
    assert "key-123" not in sent
    assert fargate_with_secrets["parameter"] in sent
    await spawner.stop()


async def test_a_function_that_returns_no_role_arn_fails_the_spawn_before_aws(
    emulator: Emulator, fargate_with_secrets: dict[str, str]
) -> None:
    spawner = secret_spawner(fargate_with_secrets, task_role_arn=lambda spawner: "admin")
    with pytest.raises(SpawnException, match=r"c\.AWSSpawner\.task_role_arn"):
        await spawner.start()
    assert not emulator.request_bodies("ecs:RunTask")


async def test_secrets_without_an_execution_role_fail_at_the_first_spawn(
    emulator: Emulator, fargate_with_secrets: dict[str, str]
) -> None:
    emulator.client("ecs").register_task_definition(**SMALL_FARGATE)  # newest: no execution role
    spawner = secret_spawner(fargate_with_secrets)
    with pytest.raises(SpawnException, match=r"c\.AWSSpawner\.execution_role_arn"):
        await spawner.start()
    assert not emulator.request_bodies("ecs:RunTask")


async def test_a_missing_secret_fails_the_spawn_with_ecs_reason_and_leaves_no_task(
    emulator: Emulator, fargate_with_secrets: dict[str, str]
) -> None:
    emulator.client("secretsmanager").delete_secret(
        SecretId=fargate_with_secrets["secret"], ForceDeleteWithoutRecovery=True
    )
    spawner = secret_spawner(fargate_with_secrets)
    with pytest.raises(SpawnException) as info:
        await spawner.start()
    message = str(info.value)
    assert "unable to retrieve secret from asm" in message
    assert "ResourceNotFoundException" in message
    ecs = emulator.client("ecs")
    assert not ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"]


def test_a_profile_can_drop_the_secrets_and_the_role() -> None:
    spawner = make_spawner(
        secrets={"DB": SECRET},
        task_role_arn=ROLE,
        profile_list=[
            {
                "display_name": "plain",
                "slug": "plain",
                "spawner_override": {"secrets": None, "task_role_arn": None},
            },
            {
                "display_name": "more",
                "slug": "more",
                "spawner_override": {"secrets": {"API_KEY": PARAMETER, "DB": None}},
            },
        ],
    )
    assert spawner.spawn_settings({"secrets": None, "task_role_arn": None}).secrets == {}
    from awsspawner.profiles.menu import merge_overrides

    merged = merge_overrides({"secrets": {"DB": SECRET}}, {"secrets": {"API_KEY": PARAMETER}})
    assert merged["secrets"] == {"DB": SECRET, "API_KEY": PARAMETER}
