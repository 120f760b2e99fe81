"""A spawner against moto (Fargate): what reaches RunTask (overrides, the API token), the
state a restarted hub gets back, the calls a spawn costs, and the RunTask hook. The lifecycle
itself (every launch mode, failures, cancellation, restarts) is in test_lifecycle.py.

moto's Fargate tasks are born RUNNING with a 10.x ENI address: the URL is resolved and
checked, never dialled.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from jupyterhub.spawner import SpawnException

from .conftest import CLUSTER, CallCounter, make_spawner

pytestmark = pytest.mark.moto


def fargate_spawner(setup: SimpleNamespace, **config: object):
    return make_spawner(task_subnets=[setup.subnet], task_security_groups=[setup.group], **config)


async def test_fargate_spawn_poll_stop(ecs_setup: SimpleNamespace) -> None:
    spawner = fargate_spawner(ecs_setup, cpu=1024, memory=2048)
    counter = await CallCounter().attach(spawner)
    url = await spawner.start()
    assert url.startswith("http://")
    assert url.endswith(":8888")
    assert spawner.task_arn
    task = ecs_setup.ecs.describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])["tasks"][0]
    assert task["overrides"]["cpu"] == "1024"
    assert task["startedBy"] == "jupyterhub-jupyterhub"
    # The server authenticates to the hub with the token JupyterHub gave this spawn.
    environment = {
        item["name"]: item["value"]
        for item in task["overrides"]["containerOverrides"][0]["environment"]
    }
    assert environment["JUPYTERHUB_API_TOKEN"] == "secret-api-token-0123456789"
    assert spawner.api_token == "secret-api-token-0123456789"
    assert await spawner.poll() is None

    state = spawner.get_state()
    assert state["task_arn"] == spawner.task_arn
    assert state["endpoint_url"] == url
    assert set(state) >= {"task_arn", "task_cluster", "client_token", "endpoint_url"}

    # A fresh spawner given the stored state finds the task and stops it.
    restored = fargate_spawner(ecs_setup)
    restored.load_state(state)
    assert await restored.get_url() == url
    assert await restored.poll() is None
    await restored.stop()
    assert await restored.poll() == 0  # the exit code moto gives every container
    assert dict(counter.calls) == {
        "DescribeTaskDefinition": 1,
        "RunTask": 1,
        # The shared watcher answers the second spawner from its cache, and poll() after
        # stop() answers from what stop() saw.
        "DescribeTasks": 2,
        "StopTask": 1,
    }


async def test_poll_before_any_start_is_zero(ecs_setup: SimpleNamespace) -> None:
    assert await fargate_spawner(ecs_setup).poll() == 0


async def test_poll_when_aws_is_unreachable_says_running(
    ecs_setup: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .conftest import free_loopback_port

    spawner = fargate_spawner(ecs_setup)
    await spawner.start()
    arn = spawner.task_arn
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_loopback_port()}")
    unreachable = fargate_spawner(ecs_setup)
    unreachable.load_state(spawner.get_state())
    assert await unreachable.poll() is None  # never "stopped" because AWS did not answer
    monkeypatch.setenv("AWS_ENDPOINT_URL", ecs_setup.url)
    await spawner.stop(now=True)
    task = ecs_setup.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"


async def test_config_error_at_start_starts_nothing(ecs_setup: SimpleNamespace) -> None:
    spawner = fargate_spawner(ecs_setup, task_container_name="not-there")
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "c.AWSSpawner.task_container_name" in caught.value.message
    assert ecs_setup.ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []


async def test_modify_run_task_hook_sees_and_changes_the_request(
    ecs_setup: SimpleNamespace,
) -> None:
    seen = {}

    async def hook(spawner, request):
        seen.update(request)
        request["group"] = "notebooks-" + spawner.user.name
        return request

    spawner = fargate_spawner(ecs_setup, modify_run_task_hook=hook)
    await spawner.start()
    assert seen["clientToken"] == spawner.client_token
    task = ecs_setup.ecs.describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])["tasks"][0]
    assert task["group"] == "notebooks-alice"
    await spawner.stop(now=True)


async def test_hook_returning_garbage_starts_nothing(ecs_setup: SimpleNamespace) -> None:
    spawner = fargate_spawner(ecs_setup, modify_run_task_hook=lambda s, r: None)
    with pytest.raises(SpawnException, match="modify_run_task_hook"):
        await spawner.start()
    assert ecs_setup.ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []


async def test_aws_calls_of_first_and_second_spawn_of_an_image(
    ecs_setup: SimpleNamespace,
) -> None:
    """The numbers in the docs' 'Calls per spawn' table."""
    image = "quay.io/jupyter/datascience-notebook:2026-04-04"
    first = fargate_spawner(ecs_setup, image=image)
    counter = await CallCounter().attach(first)
    await first.start()
    after_first = dict(counter.calls)
    second = fargate_spawner(ecs_setup, image=image, user="bob")
    await second.start()
    after_second = {k: v - after_first.get(k, 0) for k, v in counter.calls.items()}
    assert after_first == {
        "DescribeTaskDefinition": 2,
        "RegisterTaskDefinition": 1,
        "RunTask": 1,
        "DescribeTasks": 1,
    }
    assert {k: v for k, v in after_second.items() if v} == {"RunTask": 1, "DescribeTasks": 1}
    for spawner in (first, second):
        await spawner.stop(now=True)
