"""ECSGateway against a moto server process: calls, batching, errors, task definitions."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from awsspawner.aws.auth import AWSSpawnerAuthentication
from awsspawner.aws.clients import ClientSettings, shared_client
from awsspawner.aws.gateway import ECSGateway
from awsspawner.aws.ratelimit import BucketLimits
from awsspawner.errors import (
    ClusterNotFoundError,
    ECSUnreachableError,
    RunTaskFailedError,
    TaskDefinitionError,
)
from awsspawner.launch.tags import TAG_BASE
from awsspawner.launch.task_definitions import derived_family_name

from .conftest import BASE_IMAGE, CLUSTER, CONTAINER, FAMILY, REGION, CallCounter, make_spawner

pytestmark = pytest.mark.moto


class CountingGateway:
    """A gateway on a fresh client (as a fresh hub process would have), counting calls."""

    def __init__(self, **kwargs: Any) -> None:
        self.counter = CallCounter()
        self.gateway = ECSGateway(self._client, **kwargs)
        self._made: Any = None

    async def _client(self) -> Any:
        if self._made is None:
            self._made = await shared_client(
                "ecs",
                auth=AWSSpawnerAuthentication(),
                region=REGION,
                settings=ClientSettings(max_attempts=1),
            )
            self._made.meta.events.register("before-call.ecs", self.counter)
        return self._made

    @property
    def calls(self) -> dict[str, int]:
        return dict(self.counter.calls)


def run_request(setup: SimpleNamespace, **changes: Any) -> dict[str, Any]:
    request = {
        "cluster": CLUSTER,
        "taskDefinition": setup.taskdef_arn,
        "count": 1,
        "launchType": "FARGATE",
        "startedBy": "jupyterhub-test",
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": [setup.subnet],
                "securityGroups": [setup.group],
                "assignPublicIp": "DISABLED",
            }
        },
    }
    request.update(changes)
    return request


async def test_run_describe_stop(ecs_setup: SimpleNamespace) -> None:
    counting = CountingGateway()
    gateway = counting.gateway
    task = await gateway.run_task(run_request(ecs_setup))
    arn = task["taskArn"]
    found = await gateway.describe_tasks(CLUSTER, [arn])
    assert list(found.tasks) == [arn]
    assert found.missing == {}
    stopped = await gateway.stop_task(CLUSTER, arn, "test")
    assert stopped is not None
    assert stopped["desiredStatus"] == "STOPPED"
    listed = await gateway.list_tasks(CLUSTER, "jupyterhub-test")
    assert arn in listed
    assert counting.calls == {"RunTask": 1, "DescribeTasks": 1, "StopTask": 1, "ListTasks": 2}


async def test_describe_batches_at_most_100_ids_and_reports_missing(
    ecs_setup: SimpleNamespace,
) -> None:
    counting = CountingGateway()
    real = [(await counting.gateway.run_task(run_request(ecs_setup)))["taskArn"] for _ in range(3)]
    prefix = real[0].rsplit("/", 1)[0]
    unknown = [f"{prefix}/{i:032x}" for i in range(247)]
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["tasks"]))

    client = await counting._client()
    client.meta.events.register("provide-client-params.ecs.DescribeTasks", record)
    found = await counting.gateway.describe_tasks(CLUSTER, real + unknown + real)  # dupes too
    assert sorted(found.tasks) == sorted(real)
    assert set(found.missing) == set(unknown)
    assert set(found.missing.values()) == {"MISSING"}
    assert sorted(sizes) == [50, 100, 100]  # 250 distinct ids in 3 calls, none over 100


async def test_unknown_cluster_is_a_clear_error(ecs_setup: SimpleNamespace) -> None:
    gateway = CountingGateway().gateway
    with pytest.raises(ClusterNotFoundError) as caught:
        await gateway.run_task(run_request(ecs_setup, cluster="nope"))
    assert "operation=RunTask" in str(caught.value)
    assert "cluster=nope" in str(caught.value)


async def test_runtask_without_tasks_raises_with_ecs_reasons() -> None:
    # moto never answers with failures[] (see moto-facts), so feed the gateway one such answer:
    # a stand-in client returning what ECS sends when no container instance has room.
    class NoRoom:
        async def run_task(self, **_: Any) -> dict[str, Any]:
            return {
                "tasks": [],
                "failures": [{"arn": "arn:aws:ecs:ci/1", "reason": "RESOURCE:MEMORY"}],
            }

    async def client() -> Any:
        return NoRoom()

    with pytest.raises(RunTaskFailedError) as caught:
        await ECSGateway(client).run_task({"cluster": CLUSTER})
    assert caught.value.reasons == ["RESOURCE:MEMORY"]
    assert "RESOURCE:MEMORY" in str(caught.value)


async def test_unreachable_endpoint_is_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import free_loopback_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_loopback_port()}")
    gateway = CountingGateway().gateway
    with pytest.raises(ECSUnreachableError, match="no answer from AWS"):
        await gateway.describe_tasks(CLUSTER, ["arn:aws:ecs:us-east-1:1:task/x/y"])


# ----------------------------------------------------------------------- task definitions


async def test_family_revision_is_used_as_is_for_its_own_image(
    ecs_setup: SimpleNamespace,
) -> None:
    counting = CountingGateway()
    settings = make_spawner(image=BASE_IMAGE).spawn_settings()
    info = await counting.gateway.task_definition_for(settings)
    assert info.arn == ecs_setup.taskdef_arn
    assert info.network_mode == "awsvpc"
    assert counting.calls == {"DescribeTaskDefinition": 1}


async def test_new_image_derives_once_and_is_reused(ecs_setup: SimpleNamespace) -> None:
    image = "quay.io/jupyter/scipy-notebook:2026-02-02"
    settings = make_spawner(image=image).spawn_settings()
    first = CountingGateway()
    derived = await first.gateway.task_definition_for(settings)
    assert derived.family == derived_family_name(FAMILY, CONTAINER, image)
    assert derived.container_images[CONTAINER] == image
    assert first.calls == {"DescribeTaskDefinition": 2, "RegisterTaskDefinition": 1}

    again = await first.gateway.task_definition_for(settings)
    assert again.arn == derived.arn
    assert first.calls == {"DescribeTaskDefinition": 2, "RegisterTaskDefinition": 1}

    # A fresh hub process (empty cache) finds the derived revision with no registration.
    fresh = CountingGateway()
    found = await fresh.gateway.task_definition_for(settings)
    assert found.arn == derived.arn
    assert fresh.calls == {"DescribeTaskDefinition": 2}

    described = ecs_setup.ecs.describe_task_definition(taskDefinition=derived.arn, include=["TAGS"])
    definition = described["taskDefinition"]
    assert definition["executionRoleArn"].endswith("ecsTaskExecutionRole")
    assert definition["cpu"] == "1024"
    tags = {t["key"]: t["value"] for t in described["tags"]}
    assert tags[TAG_BASE] == ecs_setup.taskdef_arn
    assert tags["team"] == "research"  # the admin's tags travel along


async def test_new_base_revision_is_derived_again(ecs_setup: SimpleNamespace) -> None:
    from .conftest import fargate_task_definition

    image = "quay.io/jupyter/r-notebook:2026-03-03"
    settings = make_spawner(image=image).spawn_settings()
    old = await CountingGateway().gateway.task_definition_for(settings)
    ecs_setup.ecs.register_task_definition(**fargate_task_definition(cpu="2048", memory="4096"))
    fresh = CountingGateway()
    new = await fresh.gateway.task_definition_for(settings)
    assert new.arn != old.arn
    assert fresh.calls["RegisterTaskDefinition"] == 1


async def test_concurrent_spawns_register_once(ecs_setup: SimpleNamespace) -> None:
    counting = CountingGateway()
    settings = make_spawner(image="example.org/custom:1").spawn_settings()
    infos = await asyncio.gather(
        *(counting.gateway.task_definition_for(settings) for _ in range(20))
    )
    assert len({info.arn for info in infos}) == 1
    assert counting.calls == {"DescribeTaskDefinition": 2, "RegisterTaskDefinition": 1}


async def test_registrations_are_paced_to_one_per_second(ecs_setup: SimpleNamespace) -> None:
    # Burst 1 and faster than ECS (burst 20, 1/s), to see the pacing in a short test.
    counting = CountingGateway(register_limits=BucketLimits(rate=4.0, burst=1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(3):
        settings = make_spawner(image=f"example.org/custom:{n}").spawn_settings()
        await counting.gateway.task_definition_for(settings)
    assert counting.calls["RegisterTaskDefinition"] == 3
    assert loop.time() - started >= 2 / 4.0 - 0.05  # burst 1, then one per 1/rate seconds


async def test_task_definition_arn_is_used_exactly(ecs_setup: SimpleNamespace) -> None:
    counting = CountingGateway()
    settings = make_spawner(
        task_definition_arn=ecs_setup.taskdef_arn, image="example.org/ignored:1"
    ).spawn_settings()
    info = await counting.gateway.task_definition_for(settings)
    assert info.arn == ecs_setup.taskdef_arn
    assert "RegisterTaskDefinition" not in counting.calls


async def test_unknown_family_is_a_task_definition_error(ecs_setup: SimpleNamespace) -> None:
    settings = make_spawner(task_definition_family="no-such-family").spawn_settings()
    with pytest.raises(TaskDefinitionError) as caught:
        await CountingGateway().gateway.task_definition_for(settings)
    assert caught.value.operation == "DescribeTaskDefinition"


async def test_describe_container_instances_batches(ecs_setup: SimpleNamespace) -> None:
    ec2 = ecs_setup.ec2
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=ecs_setup.subnet)
    instance_id = instance["Instances"][0]["InstanceId"]
    document = json.dumps(
        {"instanceId": instance_id, "region": "us-east-1", "availabilityZone": "us-east-1a"}
    )
    ci = ecs_setup.ecs.register_container_instance(
        cluster=CLUSTER, instanceIdentityDocument=document
    )["containerInstance"]["containerInstanceArn"]
    found = await CountingGateway().gateway.describe_container_instances(CLUSTER, [ci])
    assert found[ci]["ec2InstanceId"] == instance_id
