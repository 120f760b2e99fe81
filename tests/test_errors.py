"""botocore failures become awsspawner errors that say what failed, and never the request."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

import awsspawner
from awsspawner.aws.gateway import ECSGateway, translate_aws_error
from awsspawner.errors import (
    ClientTokenConflictError,
    ClusterNotFoundError,
    ECSAccessDeniedError,
    ECSError,
    ECSServerError,
    ECSThrottledError,
    ECSUnreachableError,
    InvalidParameterError,
    TaskDefinitionError,
    TaskNotFoundError,
)


def client_error(code: str, message: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "RunTask",
    )


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (client_error("ThrottlingException", "Rate exceeded"), ECSThrottledError, True),
        (client_error("Whatever", "slow down", 429), ECSThrottledError, True),
        (client_error("AccessDeniedException", "not allowed"), ECSAccessDeniedError, False),
        (
            client_error("ClusterNotFoundException", "Cluster not found."),
            ClusterNotFoundError,
            False,
        ),
        (client_error("ConflictException", "token reused"), ClientTokenConflictError, False),
        (client_error("InvalidParameterException", "bad cpu"), InvalidParameterError, False),
        (client_error("ServerException", "oops", 500), ECSServerError, True),
        (client_error("Unknown", "<html>500</html>", 502), ECSServerError, True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), ECSUnreachableError, True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), ECSUnreachableError, True),
    ],
)
def test_translation(error: Exception, kind: type[ECSError], retryable: bool) -> None:
    translated = translate_aws_error(error, operation="RunTask", cluster="c1")
    assert type(translated) is kind
    assert translated.retryable is retryable
    assert "operation=RunTask" in str(translated)
    assert "cluster=c1" in str(translated)


def test_task_not_found_and_task_definition_errors() -> None:
    missing = client_error("InvalidParameterException", "The referenced task was not found.")
    assert isinstance(
        translate_aws_error(missing, operation="StopTask", task="arn:t"), TaskNotFoundError
    )
    taskdef = client_error("ClientException", "Unable to describe task definition.")
    assert isinstance(
        translate_aws_error(taskdef, operation="DescribeTaskDefinition"), TaskDefinitionError
    )


def test_long_messages_are_cut() -> None:
    translated = translate_aws_error(
        client_error("ServerException", "x" * 5000, 500), operation="RunTask"
    )
    assert len(translated.message) <= 300


async def test_stopping_an_unknown_task_is_done() -> None:
    # moto answers StopTask on an unknown task with HTTP 500 (see moto-facts), so this uses a
    # stand-in client that answers as ECS does.
    class ECSWithoutTheTask:
        async def stop_task(self, **_: Any) -> dict[str, Any]:
            raise client_error("InvalidParameterException", "The referenced task was not found.")

    async def client() -> Any:
        return ECSWithoutTheTask()

    assert await ECSGateway(client).stop_task("c", "arn:aws:ecs:task/c/1", "bye") is None


async def test_gateway_errors_do_not_chain_the_request() -> None:
    secret = "JUPYTERHUB_API_TOKEN=top-secret"

    class Failing:
        async def run_task(self, **params: Any) -> dict[str, Any]:
            raise client_error("InvalidParameterException", "bad request")

    async def client() -> Any:
        return Failing()

    with pytest.raises(InvalidParameterError) as caught:
        await ECSGateway(client).run_task({"cluster": "c", "overrides": secret})
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert "top-secret" not in str(caught.value)


def test_entry_points_name_the_spawner() -> None:
    found = {ep.name: ep for ep in entry_points(group="jupyterhub.spawners")}
    assert found["ecs"].load() is awsspawner.AWSSpawner
    assert found["aws"].load() is awsspawner.AWSSpawner


def test_old_import_paths_and_commands_keep_working() -> None:
    # Paths written in jupyterhub_config.py, hooks and scripts before the modules were grouped
    # into folders (docs/upgrading.md).
    import awsspawner.auth
    import awsspawner.gateway
    import awsspawner.reaper
    from awsspawner.aws.auth import AWSSpawnerAssumeRoleAuthentication
    from awsspawner.aws.gateway import ECSGateway
    from awsspawner.tools import reaper

    for name in awsspawner.__all__:
        assert getattr(awsspawner, name) is not None, name
    assert awsspawner.ECSError is awsspawner.AWSError
    assert awsspawner.gateway.ECSGateway is ECSGateway
    assert awsspawner.auth.AWSSpawnerAssumeRoleAuthentication is AWSSpawnerAssumeRoleAuthentication
    assert awsspawner.AWSSpawnerAuthentication is awsspawner.auth.AWSSpawnerAuthentication
    assert awsspawner.reaper.main is reaper.main
    scripts = {ep.name: ep for ep in entry_points(group="console_scripts")}
    assert scripts["awsspawner-reaper"].load() is reaper.main
    command = subprocess.run(
        [sys.executable, "-m", "awsspawner.reaper", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    assert "Stop ECS tasks of this hub that no JupyterHub server owns" in command.stdout
