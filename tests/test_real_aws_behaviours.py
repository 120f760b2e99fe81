"""What an audit found real AWS does differently, each with a test that failed before its fix:
role chaining's refresh storm, host-network ports, poll() around start() and stop(), IPv6-only
task ENIs, and ECS's RegisterTaskDefinition bucket."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from awsspawner import AWSSpawner
from awsspawner.aws.auth import AWSSpawnerAssumeRoleAuthentication
from awsspawner.aws.clients import shared_client
from awsspawner.aws.ratelimit import REGISTER_TASK_DEFINITION, TokenBucket
from awsspawner.endpoints.resolvers import AwsvpcResolver, Endpoint, ResolveContext
from awsspawner.launch.task_definitions import TaskDefinitionInfo

from .conftest import CLUSTER, CONTAINER, REGION, make_spawner
from .emulator.launcher import Emulator
from .helpers import http_status

FAKE_NOTEBOOK = [sys.executable, str(Path(__file__).with_name("fake_notebook.py"))]
ROLE = "arn:aws:iam::123456789012:role/hub"


# ---------------------------------------------------------------------------- role chaining


async def test_one_assume_role_for_a_hundred_calls(emulator: Emulator) -> None:
    """botocore refreshes assumed-role credentials 15 minutes before they expire: with the
    shortest session now allowed (1800 s) a hundred ECS calls assume the role once."""
    auth = AWSSpawnerAssumeRoleAuthentication(role_arn=ROLE, duration_seconds=1800)
    ecs = await shared_client("ecs", auth=auth, region=REGION)
    for _ in range(100):
        await ecs.list_clusters()
    calls = emulator.stats()["calls"]
    assert calls["ecs:ListClusters"] == 100
    assert calls["sts:AssumeRole"] == 1


def test_sessions_shorter_than_the_refresh_window_are_refused() -> None:
    with pytest.raises(TraitError, match="1800"):
        AWSSpawnerAssumeRoleAuthentication(role_arn=ROLE, duration_seconds=900)
    AWSSpawnerAssumeRoleAuthentication(role_arn=ROLE, duration_seconds=1800)
    help_text = AWSSpawnerAssumeRoleAuthentication.class_traits()["duration_seconds"].help
    assert "3600" in help_text
    assert "role chaining" in help_text


# ------------------------------------------------------------------- host-network ports


@pytest.fixture
def host_node(emulator: Emulator) -> Any:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="anywhere-host",
        networkMode="host",
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[
            {
                "name": CONTAINER,
                "image": "quay.io/jupyter/base-notebook:2026-01-01",
                "memory": 256,
                "portMappings": [{"containerPort": 8765, "hostPort": 8765, "protocol": "tcp"}],
            }
        ],
    )
    emulator.add_agent(
        CLUSTER,
        instance_id="mi-0000000000000a081",
        address="127.0.0.81",
        attributes={"jupyterhub.address": "127.0.0.81"},
    )
    return ecs


def host_spawner(**config: Any) -> AWSSpawner:
    return make_spawner(
        launch_type="EXTERNAL",
        task_definition_family="anywhere-host",
        task_subnets=[],
        cmd=FAKE_NOTEBOOK,
        **config,
    )


async def test_host_network_uses_the_declared_container_port(
    emulator: Emulator, host_node: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """ECS books the revision's containerPort on the node; the server must listen there."""
    spawner = host_spawner()
    url = await spawner.start()
    try:
        assert url == "http://127.0.0.81:8765"
        assert spawner.port == 8765
        assert spawner.get_env()["JUPYTERHUB_SERVICE_URL"] == "http://0.0.0.0:8765/"
        assert await asyncio.to_thread(http_status, url + "/") == 200
    finally:
        await spawner.stop()
    assert "c.AWSSpawner.port" not in caplog.text  # the default port: nothing was overridden


async def test_a_configured_port_that_disagrees_is_warned_once_per_revision(
    emulator: Emulator, host_node: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="awsspawner")
    for user in ("alice", "bob"):
        spawner = host_spawner(user=user, port=9999)
        url = await spawner.start()
        try:
            assert url.endswith(":8765")
        finally:
            await spawner.stop()
    warnings = [r.getMessage() for r in caplog.records if "c.AWSSpawner.port" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "9999" in warnings[0]
    assert "8765" in warnings[0]
    assert "anywhere-host:1" in warnings[0]


def test_several_declared_ports_keep_the_configured_one(caplog: pytest.LogCaptureFixture) -> None:
    """Which of several declared ports is the notebook's cannot be known: one of them that is
    the configured port is used; none of them: the configured port, and a warning."""
    caplog.set_level(logging.WARNING, logger="awsspawner")
    spawner = host_spawner()
    settings = spawner.spawn_settings()

    def revision(*ports: int) -> TaskDefinitionInfo:
        return TaskDefinitionInfo(
            arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/h:{len(ports)}",
            family="h", network_mode="host", container_images={CONTAINER: "img"},
            container_ports={CONTAINER: ports},
        )  # fmt: skip

    assert spawner._declared_host_port(settings, revision(22, 8888)) == 8888
    assert "c.AWSSpawner.port" not in caplog.text
    assert spawner._declared_host_port(settings, revision(22, 9000, 9001)) == 8888
    assert "is not among the containerPorts 22, 9000, 9001" in caplog.text
    assert spawner._declared_host_port(settings, revision()) == 8888


# --------------------------------------------------------------------------------- poll()


@pytest.fixture
def fargate_cluster(emulator: Emulator, fargate: str) -> str:
    return fargate


async def test_poll_during_run_task_says_running(emulator: Emulator, fargate_cluster: str) -> None:
    """RunTask sent, no answer yet: the task may exist, so poll() must not say "stopped"."""
    emulator.add_agent(CLUSTER, fargate=True, options=["--hold-pending", "60"])
    # RunTask reaches ECS 2 s late: meanwhile no task can be found by its clientToken either.
    emulator.faults([{"operation": "ecs:RunTask", "kind": "slow", "delay": 2.0, "rate": 1.0}])
    spawner = make_spawner(task_subnets=[fargate_cluster], cmd=FAKE_NOTEBOOK)
    start = asyncio.ensure_future(spawner.start())
    deadline = time.monotonic() + 10
    while not spawner.client_token:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert not spawner.task_arn  # RunTask is in flight
    assert await spawner.poll() is None
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    await spawner.stop()


async def test_poll_after_stop_answers_without_asking_aws(
    emulator: Emulator, fargate_cluster: str
) -> None:
    """After stop() returned, before clear_state(): an exit status, even when AWS throttles."""
    emulator.add_agent(CLUSTER, fargate=True)
    spawner = make_spawner(task_subnets=[fargate_cluster], cmd=FAKE_NOTEBOOK)
    await spawner.start()
    await spawner.stop()
    emulator.faults([{"operation": "ecs:DescribeTasks", "kind": "throttle", "rate": 1.0}])
    before = emulator.stats()["calls"].get("ecs:DescribeTasks", 0)
    status = await spawner.poll()
    assert isinstance(status, int)
    assert emulator.stats()["calls"].get("ecs:DescribeTasks", 0) == before
    assert spawner.task_arn not in spawner.task_watcher(spawner.ecs_gateway()).watched
    spawner.clear_state()
    assert await spawner.poll() == 0


# ------------------------------------------------------------------------------------ IPv6


async def test_an_ipv6_only_eni_resolves_to_a_bracketed_url() -> None:
    task = {
        "attachments": [
            {
                "type": "ElasticNetworkInterface",
                "details": [
                    {"name": "subnetId", "value": "subnet-0123"},
                    {"name": "ipv6Address", "value": "2600:1f18:abcd::1"},
                ],
            }
        ]
    }
    taskdef = TaskDefinitionInfo(
        arn="arn:aws:ecs:us-east-1:123456789012:task-definition/x:1",
        family="x",
        network_mode="awsvpc",
        container_images={CONTAINER: "img"},
    )
    context = ResolveContext(
        task=task, taskdef=taskdef, container_name=CONTAINER, port=8888, cluster=CLUSTER,
        gateway=None, clients=None,  # type: ignore[arg-type]  # an awsvpc task asks nothing
    )  # fmt: skip
    endpoint = await AwsvpcResolver().resolve(context)
    assert endpoint is not None
    assert endpoint.url("http") == "http://[2600:1f18:abcd::1]:8888"
    assert Endpoint("10.0.0.5", 8888, "x").url("https") == "https://10.0.0.5:8888"


# ------------------------------------------------------------- RegisterTaskDefinition bucket


async def test_register_task_definition_bucket_is_ecs_figure() -> None:
    """ECS's bucket for RegisterTaskDefinition: burst 20, 1 per second (one figure, used by
    the gateway)."""
    assert (REGISTER_TASK_DEFINITION.rate, REGISTER_TASK_DEFINITION.burst) == (1.0, 20)
    bucket = TokenBucket(REGISTER_TASK_DEFINITION.rate, REGISTER_TASK_DEFINITION.burst)
    began = time.monotonic()
    for _ in range(20):
        await bucket.acquire()
    assert time.monotonic() - began < 0.5  # the burst goes at once
    gateway = make_spawner().ecs_gateway()
    assert gateway._register_bucket.burst == 20
    assert gateway._register_bucket.rate == 1.0
