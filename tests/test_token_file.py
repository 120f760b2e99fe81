"""The hub API token out of the task description (``api_token_source = 's3'``).

The token travels in an S3 environment file the emulator's ECS agent downloads as the real
agent does; the RunTask request, the task ECS describes and the hub's logs never hold it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from jupyterhub.spawner import SpawnException

from awsspawner.aws.clients import shared_client
from awsspawner.aws.redaction import redact
from awsspawner.errors import ConfigurationError
from awsspawner.launch.run_task import SpawnIdentity, build_run_task_request
from awsspawner.launch.token_file import (
    SECRET_VARIABLES,
    TokenFile,
    split_secrets,
    token_file_for,
)
from awsspawner.tools.orphans import HubServers
from awsspawner.tools.token_sweep import TokenSweep

from .conftest import CLUSTER, REGION, make_spawner
from .emulator.launcher import Emulator
from .helpers import http_status, task_environment
from .test_requests import taskdef

FAKE_NOTEBOOK = [sys.executable, str(Path(__file__).with_name("fake_notebook.py"))]
BUCKET = "hub-tokens"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
TOKEN = "secret-api-token-0123456789"  # make_spawner's


def s3_config(**extra: Any) -> dict[str, Any]:
    return {
        "api_token_source": "s3",
        "api_token_bucket": BUCKET,
        "execution_role_arn": EXECUTION_ROLE,
        **extra,
    }


# ---------------------------------------------------------------------------- pure rules


def test_keys_are_one_per_server_and_hostile_names_stay_inside() -> None:
    def key(user: str, server: str = "") -> str:
        return token_file_for(
            bucket=BUCKET, prefix="tok/", region=REGION, hub_id="hub", username=user,
            server_name=server,
        ).key  # fmt: skip

    assert key("alice") == "tok/hub/alice.env"
    assert key("alice", "gpu") == "tok/hub/alice/gpu.env"
    hostile = ["../etc", "a/b", "a", "a.env", "~x", "é", "a%2Fb", " ", "x" * 600]
    keys = {key(name, server) for name in hostile for server in ("", "s", "../s", "s/t")}
    assert len(keys) == len(hostile) * 4  # no two servers share a file
    for made in keys:
        assert made.startswith("tok/hub/")
        assert ".." not in made.split("/")
        assert len(made.encode()) <= 1024  # S3's limit
    assert (
        token_file_for(
            bucket=BUCKET, prefix="", region="cn-north-1", hub_id="h", username="u", server_name=""
        ).arn
        == f"arn:aws-cn:s3:::{BUCKET}/h/u.env"
    )


def test_split_secrets_moves_both_token_variables() -> None:
    kept, text = split_secrets({"JUPYTERHUB_API_TOKEN": "t1", "JPY_API_TOKEN": "t1", "A": "b"})
    assert kept == {"A": "b"}
    assert text == "JUPYTERHUB_API_TOKEN=t1\nJPY_API_TOKEN=t1\n"
    with pytest.raises(ValueError, match="line break"):
        split_secrets({"JUPYTERHUB_API_TOKEN": "a\nEVIL=1"})


def test_the_request_names_the_file_and_holds_no_token() -> None:
    spawner = make_spawner(**s3_config())
    settings = spawner.spawn_settings()
    environment, _ = split_secrets(spawner.get_env())
    file = token_file_for(bucket=BUCKET, prefix="p/", region=REGION, hub_id="jupyterhub",
                          username="alice", server_name="")  # fmt: skip
    request = build_run_task_request(
        settings, taskdef(), SpawnIdentity(username="alice"), command=[],
        environment=environment, client_token="t", token_file=file,
    )  # fmt: skip
    text = json.dumps(request)
    assert TOKEN not in text
    assert not any(name in text for name in SECRET_VARIABLES)
    container = request["overrides"]["containerOverrides"][0]
    assert container["environmentFiles"] == [
        {"value": f"arn:aws:s3:::{BUCKET}/p/jupyterhub/alice.env", "type": "s3"}
    ]
    assert request["overrides"]["executionRoleArn"] == EXECUTION_ROLE
    # Without an execution role anywhere the agent could not read the file: refused.
    no_role = make_spawner(**s3_config(execution_role_arn="")).spawn_settings()
    with pytest.raises(ConfigurationError, match=r"c.AWSSpawner.execution_role_arn: is required"):
        build_run_task_request(
            no_role, taskdef(), SpawnIdentity(username="alice"), command=[],
            environment=environment, client_token="t", token_file=file,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"api_token_bucket": ""}, "api_token_bucket", "is required"),
        ({"platform_version": "1.3.0"}, "platform_version", "1.4.0 or later"),
        ({"api_token_key_prefix": "/tokens/"}, "api_token_key_prefix", "clean S3 key prefix"),
    ],
)
def test_configurations_that_cannot_work_fail_when_the_spawner_is_built(
    config: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"c.AWSSpawner.{key}: .*{words}"):
        make_spawner(**s3_config(**config))


def test_a_profile_that_cannot_use_token_files_is_named_at_hub_start() -> None:
    profiles = [
        {"display_name": "Fargate", "slug": "fargate", "spawner_override": {}},
        {"display_name": "Old", "slug": "old", "spawner_override": {"platform_version": "1.3.0"}},
    ]
    named = (
        r"profile 'old': c\.AWSSpawner\.platform_version: '1\.3\.0' cannot read environment files"
    )
    with pytest.raises(ConfigurationError, match=named):
        make_spawner(**s3_config(profile_list=profiles))


def test_the_token_file_body_is_redacted_in_botocore_logs() -> None:
    logged = (
        "Making request for OperationModel(name=PutObject) with params: {'url_path': "
        f"'/hub-tokens/t/alice.env', 'body': b'JUPYTERHUB_API_TOKEN={TOKEN}\\nJPY_API_TOKEN="
        f"{TOKEN}\\n', 'headers': {{}}}}"
    )
    cleaned = redact(logged)
    assert TOKEN not in cleaned
    assert "JUPYTERHUB_API_TOKEN=" in cleaned


# ------------------------------------------------------------------- through the emulator


@pytest.fixture
def s3(emulator: Emulator) -> Any:
    client = emulator.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def object_exists(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey"):
            return False
        raise
    return True


async def test_the_server_gets_its_token_from_the_file_and_nothing_else_holds_it(
    emulator: Emulator, fargate: str, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's request logs included: redacted
    emulator.add_agent(CLUSTER, fargate=True)
    spawner = make_spawner(task_subnets=[fargate], cmd=FAKE_NOTEBOOK, **s3_config())
    sent: dict[str, Any] = {}
    spawner.modify_run_task_hook = lambda _s, request: sent.update(request) or request
    url = await spawner.start()
    key = "jupyterhub-tokens/jupyterhub/alice.env"
    try:
        assert await asyncio.to_thread(http_status, url + "/") == 200
        environment = task_environment(spawner.task_arn)
        assert environment["JUPYTERHUB_API_TOKEN"] == TOKEN
        assert environment["JPY_API_TOKEN"] == TOKEN
        assert TOKEN not in json.dumps(sent)
        described = emulator.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])
        assert TOKEN not in json.dumps(described, default=str)
        # The agent read it before the container started: it is gone once the task runs.
        assert not object_exists(s3, key)
        assert "token_file" not in spawner.get_state()
    finally:
        await spawner.stop()
    assert isinstance(await spawner.poll(), int)
    assert TOKEN not in caplog.text


async def test_an_unreadable_file_fails_the_spawn_with_ecs_reason_and_leaves_nothing(
    emulator: Emulator, fargate: str, s3: Any
) -> None:
    emulator.add_agent(CLUSTER, fargate=True)
    spawner = make_spawner(task_subnets=[fargate], cmd=FAKE_NOTEBOOK, **s3_config())

    def point_elsewhere(_spawner: Any, request: dict[str, Any]) -> dict[str, Any]:
        container = request["overrides"]["containerOverrides"][0]
        container["environmentFiles"] = [
            {"value": f"arn:aws:s3:::{BUCKET}/missing/file.env", "type": "s3"}
        ]
        return request

    spawner.modify_run_task_hook = point_elsewhere
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "ResourceInitializationError: failed to download env files" in caught.value.message
    running = emulator.client("ecs").list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")
    assert running["taskArns"] == []
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)  # its own file was deleted


async def test_a_file_that_cannot_be_written_starts_no_task(
    emulator: Emulator, fargate: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spawner = make_spawner(task_subnets=[fargate], **s3_config(api_token_bucket="no-such-bucket"))
    with pytest.raises(SpawnException, match="Could not prepare your server's task") as caught:
        await spawner.start()
    assert not emulator.stats()["calls"].get("ecs:RunTask")
    assert "PutObject" in caplog.text  # botocore's request log is there, redacted
    assert TOKEN not in caplog.text
    assert TOKEN not in caught.value.message


async def test_a_start_timeout_during_run_task_deletes_the_file(
    emulator: Emulator, fargate: str, s3: Any
) -> None:
    emulator.faults([{"operation": "ecs:RunTask", "kind": "slow", "delay": 3.0}])
    spawner = make_spawner(task_subnets=[fargate], start_timeout=2, **s3_config())
    with pytest.raises(SpawnException, match="did not start within 2 s"):
        await spawner.start()
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert "token_file" not in spawner.get_state()
    await spawner.stop()  # the task RunTask started late is found and stopped


async def test_token_files_are_encrypted_with_kms(emulator: Emulator, s3: Any) -> None:
    spawner = make_spawner(**s3_config(api_token_kms_key_id="alias/hub-tokens"))
    file = token_file_for(bucket=BUCKET, prefix="p/", region=REGION, hub_id="h",
                          username="alice", server_name="")  # fmt: skip
    store = spawner.token_store(REGION, "alias/hub-tokens")
    await store.put(file, "JUPYTERHUB_API_TOKEN=x\n")
    stored = s3.get_object(Bucket=BUCKET, Key=file.key)
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"].endswith("hub-tokens")
    assert TokenFile.from_ref(file.ref) == file
    assert await store.delete(file)
    assert not object_exists(s3, file.key)


async def test_the_revisions_own_environment_files_are_kept(
    emulator: Emulator, fargate: str, s3: Any
) -> None:
    """A RunTask override replaces the container's environmentFiles: its own go along."""
    s3.put_object(Bucket=BUCKET, Key="team.env", Body=b"TEAM=research\n")
    ecs = emulator.client("ecs")
    ecs.register_task_definition(
        family="with-files", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
        cpu="256", memory="512", executionRoleArn=EXECUTION_ROLE,
        containerDefinitions=[{
            "name": "notebook", "image": "img:1", "memory": 512,
            "environmentFiles": [{"value": f"arn:aws:s3:::{BUCKET}/team.env", "type": "s3"}],
        }],
    )  # fmt: skip
    emulator.add_agent(CLUSTER, fargate=True)
    spawner = make_spawner(
        task_subnets=[fargate], cmd=FAKE_NOTEBOOK, task_definition_family="with-files",
        **s3_config(execution_role_arn=""),
    )  # fmt: skip
    await spawner.start()
    try:
        environment = task_environment(spawner.task_arn)
        assert environment["TEAM"] == "research"
        assert environment["JUPYTERHUB_API_TOKEN"] == TOKEN
    finally:
        await spawner.stop()


def test_a_revision_that_would_hide_the_token_is_refused() -> None:
    settings = make_spawner(**s3_config()).spawn_settings()
    revision = dataclasses.replace(
        taskdef(), environment_names={"notebook": frozenset({"JUPYTERHUB_API_TOKEN"})}
    )
    file = token_file_for(bucket=BUCKET, prefix="", region=REGION, hub_id="h", username="u",
                          server_name="")  # fmt: skip
    with pytest.raises(ConfigurationError, match="would hide the server's own token"):
        build_run_task_request(
            settings, revision, SpawnIdentity(username="u"), command=[], environment={},
            client_token="t", token_file=file,
        )  # fmt: skip


async def test_the_reaper_deletes_files_no_server_owns(emulator: Emulator, s3: Any) -> None:
    for key in ("p/hub/alice.env", "p/hub/bob.env", "p/hub/alice/gpu.env", "p/other/carol.env"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"JUPYTERHUB_API_TOKEN=x\n")
    servers = HubServers()
    servers.add("alice", {"": {"ready": True, "pending": None, "started": None}})
    client = await shared_client("s3", auth=make_spawner().authentication, region=REGION)
    sweep = TokenSweep(client, BUCKET, "p/", "hub")
    young = await sweep.run(servers, grace=900, now=time.time())
    assert (young.files, young.deleted) == (3, 0)  # all too young to judge
    dry = await sweep.run(servers, grace=0, now=time.time() + 1, dry_run=True)
    assert dry.deleted == 2
    done = await sweep.run(servers, grace=0, now=time.time() + 1)
    assert done.deleted == 2
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert left == ["p/hub/alice.env", "p/other/carol.env"]  # another hub's: never touched
