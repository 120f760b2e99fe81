"""Authentication classes and the shared aiobotocore clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from traitlets.config import Config

from awsspawner import (
    AWSSpawnerAssumeRoleAuthentication,
    AWSSpawnerAuthentication,
    AWSSpawnerSecretAccessKeyAuthentication,
    close_shared_clients,
)
from awsspawner.aws.clients import ClientSettings, shared_client
from awsspawner.errors import ConfigurationError

from .conftest import REGION, make_spawner


async def frozen(session_owner: AWSSpawnerAuthentication) -> Any:
    session = await session_owner.create_session(REGION)
    credentials = await session.get_credentials()
    return await credentials.get_frozen_credentials()


async def test_default_chain_reads_the_environment() -> None:
    creds = await frozen(AWSSpawnerAuthentication())
    assert creds.access_key == "AKIAFAKEFORTESTS0000"


async def test_static_keys_are_used_and_never_in_the_cache_key() -> None:
    auth = AWSSpawnerSecretAccessKeyAuthentication(
        aws_access_key_id="AKIASTATIC", aws_secret_access_key="very-secret-value"
    )
    creds = await frozen(auth)
    assert (creds.access_key, creds.secret_key) == ("AKIASTATIC", "very-secret-value")
    assert "very-secret-value" not in repr(auth.cache_key())


async def test_static_keys_missing_fail_with_the_key_name() -> None:
    auth = AWSSpawnerSecretAccessKeyAuthentication(aws_access_key_id="AKIASTATIC")
    with pytest.raises(ConfigurationError, match="AWSSpawnerSecretAccessKeyAuthentication"):
        await auth.create_session(REGION)


def test_legacy_get_session_subclass_is_refused_with_what_to_write() -> None:
    class Legacy(AWSSpawnerAuthentication):
        def get_session(self, region: str) -> Any:  # the pre-1.0 hook, returning boto3
            raise AssertionError("never called")

    with pytest.raises(ConfigurationError) as caught:
        make_spawner(authentication_class=Legacy)
    assert caught.value.key == "authentication_class"
    assert "async def create_session(self, region)" in str(caught.value)


def test_auth_settings_come_from_their_own_config_section() -> None:
    config = Config()
    config.AWSSpawner.authentication_class = AWSSpawnerSecretAccessKeyAuthentication
    config.AWSSpawnerSecretAccessKeyAuthentication.aws_access_key_id = "AKIAFROMCONFIG"
    spawner = make_spawner(config=config)
    assert spawner.authentication.aws_access_key_id == "AKIAFROMCONFIG"


@pytest.mark.moto
async def test_assume_role_uses_sts_credentials(moto: str) -> None:
    auth = AWSSpawnerAssumeRoleAuthentication(
        role_arn="arn:aws:iam::123456789012:role/hub", external_id="ext-1"
    )
    creds = await frozen(auth)
    assert creds.access_key != "AKIAFAKEFORTESTS0000"
    assert creds.token  # temporary credentials carry a session token
    await close_shared_clients()


async def test_assume_role_without_role_is_a_config_error() -> None:
    with pytest.raises(ConfigurationError, match="role_arn"):
        await AWSSpawnerAssumeRoleAuthentication().create_session(REGION)


async def test_one_client_per_credentials_shared_by_spawners() -> None:
    first = make_spawner(user="a")
    second = make_spawner(user="b")
    ecs_a = await first.aws_client("ecs")
    ecs_b = await second.aws_client("ecs")
    assert ecs_a is ecs_b
    assert await first.aws_client("ec2") is not ecs_a
    other = AWSSpawnerSecretAccessKeyAuthentication(
        aws_access_key_id="AKIAOTHER", aws_secret_access_key="x"
    )
    assert await shared_client("ecs", auth=other, region=REGION) is not ecs_a


async def test_concurrent_first_use_builds_one_client() -> None:
    auth = AWSSpawnerAuthentication()
    clients = await asyncio.gather(
        *(shared_client("ecs", auth=auth, region=REGION) for _ in range(10))
    )
    assert len({id(c) for c in clients}) == 1


async def test_client_settings_reach_botocore() -> None:
    settings = ClientSettings(max_attempts=7, max_pool_connections=33, read_timeout=12)
    client = await shared_client(
        "ecs", auth=AWSSpawnerAuthentication(), region=REGION, settings=settings
    )
    config = client.meta.config
    assert config.retries["total_max_attempts"] == 7
    assert config.max_pool_connections == 33
    assert config.read_timeout == 12


async def test_endpoint_comes_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", "http://127.0.0.2:2")
    auth = AWSSpawnerAuthentication()
    ecs = await shared_client("ecs", auth=auth, region=REGION)
    ec2 = await shared_client("ec2", auth=auth, region=REGION)
    assert ecs.meta.endpoint_url == "http://127.0.0.2:2"
    assert ec2.meta.endpoint_url == "http://127.0.0.1:1"


async def test_close_is_idempotent_and_new_clients_follow() -> None:
    auth = AWSSpawnerAuthentication()
    before = await shared_client("ecs", auth=auth, region=REGION)
    await close_shared_clients()
    await close_shared_clients()
    after = await shared_client("ecs", auth=auth, region=REGION)
    assert after is not before


def test_each_event_loop_gets_its_own_client() -> None:
    async def grab() -> Any:
        return await shared_client("ecs", auth=AWSSpawnerAuthentication(), region=REGION)

    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    try:
        clients = [loop.run_until_complete(grab()) for loop in loops]
        assert clients[0] is not clients[1]  # aiohttp sessions are bound to their loop
        assert loops[0].run_until_complete(grab()) is clients[0]
    finally:
        for loop in loops:
            loop.run_until_complete(close_shared_clients())
            loop.close()


async def test_big_answers_are_parsed_off_the_loop_and_identically(
    ecs_setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from aiobotocore.session import AioSession

    from awsspawner.aws import parsing

    network = {
        "awsvpcConfiguration": {"subnets": [ecs_setup.subnet], "securityGroups": [ecs_setup.group]}
    }
    arns = [
        ecs_setup.ecs.run_task(
            cluster="notebooks", taskDefinition=ecs_setup.taskdef_arn, launchType="FARGATE",
            networkConfiguration=network,
        )["tasks"][0]["taskArn"]
        for _ in range(40)  # moto's tasks are smaller than ECS's: 40 make > 16 KB
    ]  # fmt: skip
    threads: list[int] = []
    parse = parsing.OffLoopJSONParser._parse_in_thread

    def spy(self: Any, response: Any, shape: Any) -> Any:
        threads.append(threading.get_ident())  # a spy on the real method: it still parses
        return parse(self, response, shape)

    monkeypatch.setattr(parsing.OffLoopJSONParser, "_parse_in_thread", spy)
    ours = await make_spawner().aws_client("ecs")
    described = await ours.describe_tasks(cluster="notebooks", tasks=arns)
    assert threads
    assert threading.get_ident() not in threads

    async with AioSession().create_client("ecs", region_name=REGION) as plain:
        expected = await plain.describe_tasks(cluster="notebooks", tasks=arns)
    for answer in (described, expected):
        answer.pop("ResponseMetadata")
    assert described == expected


async def test_gc_freeze_after_setup_freezes_once_around_client_setup(
    moto: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from awsspawner.aws import clients

    monkeypatch.setattr(clients, "_frozen_stages", set())
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        await make_spawner(gc_freeze_after_setup=False).aws_client("ecs")
        assert gc.get_freeze_count() == 0  # off by default: the hub's GC is left alone
        await make_spawner(gc_freeze_after_setup=True).aws_client("ecs")
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert clients._frozen_stages == {"hub", "client:ecs"}
        await make_spawner(gc_freeze_after_setup=True).aws_client("ecs")
        assert clients._frozen_stages == {"hub", "client:ecs"}  # once per stage
    finally:
        gc.unfreeze()


async def test_new_clients_are_warmed_in_a_thread_before_anyone_uses_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What botocore builds at an operation's first call is built off the loop (warmup)."""
    from awsspawner.aws import clients, warmup

    threads: list[str] = []

    def recording(client: Any, service: str) -> int:
        threads.append(threading.current_thread().name)
        return warmup.warm_client(client, service)

    monkeypatch.setattr(clients, "warm_client", recording)
    ecs = await shared_client("ecs", auth=AWSSpawnerAuthentication(), region=REGION)
    assert threads
    assert threads[0] != threading.main_thread().name
    run_task = ecs.meta.service_model.operation_model("RunTask")
    assert "members" in run_task.input_shape.__dict__  # shapes resolved (botocore caches)
    overrides = run_task.input_shape.members["overrides"]
    assert "members" in overrides.__dict__  # nested shapes too
    emitter = ecs.meta.events._emitter
    assert "before-call.ecs.RunTask" in emitter._lookup_cache  # handler lookups cached
    assert warmup.warm_client(ecs, "no-such-service") == 0
