"""Scale: the shared watcher batches and caches. Counted through the emulator's proxy (retries
and pacing are in test_retries.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from awsspawner import AWSSpawner, close_shared_clients

from .conftest import CLUSTER, CONTAINER, FAMILY, make_spawner
from .emulator.launcher import Emulator, http


def run_tasks(emulator: Emulator, subnet: str, count: int) -> list[str]:
    """Fargate tasks, born RUNNING (no Fargate agent): nothing runs, nothing is dialled."""
    ecs = emulator.client("ecs")
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}}
    return [
        ecs.run_task(
            cluster=CLUSTER, taskDefinition=FAMILY, launchType="FARGATE",
            networkConfiguration=network,
        )["tasks"][0]["taskArn"]
        for _ in range(count)
    ]  # fmt: skip


def spawners_for(arns: list[str], subnet: str) -> list[AWSSpawner]:
    spawners = []
    for n, arn in enumerate(arns):
        spawner = make_spawner(user=f"user{n}", task_subnets=[subnet])
        spawner.load_state({"task_arn": arn, "task_cluster": CLUSTER, "task_container": CONTAINER})
        spawners.append(spawner)
    return spawners


def describe_calls(emulator: Emulator) -> list[int]:
    return list(emulator.stats()["ids"].get("ecs:DescribeTasks", []))


async def test_a_poll_round_is_batched_and_then_cached(emulator: Emulator, fargate: str) -> None:
    arns = run_tasks(emulator, fargate, 150)
    spawners = spawners_for(arns, fargate)
    http("POST", f"{emulator.proxy_url}/_proxy/reset")
    # All at once, as JupyterHub polls at hub start: one shared refresh, 100 ids per call.
    results = await asyncio.gather(*(s.poll() for s in spawners))
    assert results == [None] * 150
    assert sorted(describe_calls(emulator)) == [50, 100]
    # A second round within poll_interval / 2: answered from the watcher's cache.
    await asyncio.gather(*(s.poll() for s in spawners))
    assert len(describe_calls(emulator)) == 2


async def test_after_a_restart_the_first_answers_wait_for_a_refresh(
    emulator: Emulator, fargate: str
) -> None:
    (arn,) = run_tasks(emulator, fargate, 1)
    await close_shared_clients()  # a new hub process: no clients, no watcher, no cache
    (spawner,) = spawners_for([arn], fargate)
    watcher = spawner.task_watcher(spawner.ecs_gateway())
    assert watcher.refreshes == 0
    assert await spawner.poll() is None  # running, learnt from ECS, not guessed
    assert watcher.refreshes == 1
    emulator.client("ecs").stop_task(cluster=CLUSTER, task=arn)
    spawner.poll_interval = 0  # want a fresh answer now
    assert await spawner.poll() == 1  # stopped without an exit code (it never ran)


async def test_stopped_tasks_leave_the_watcher(emulator: Emulator, fargate: str) -> None:
    spawner = make_spawner(task_subnets=[fargate])
    await spawner.start()
    watcher = spawner.task_watcher(spawner.ecs_gateway())
    assert spawner.task_arn in watcher.watched
    await spawner.stop()
    assert spawner.task_arn not in watcher.watched


async def test_many_pollers_one_refresh_even_when_throttled(
    emulator: Emulator, fargate: str
) -> None:
    arns = run_tasks(emulator, fargate, 20)
    spawners = spawners_for(arns, fargate)
    for spawner in spawners:
        spawner.poll_interval = 0
    emulator.faults([{"operation": "ecs:DescribeTasks", "kind": "throttle", "rate": 1}])
    results: list[Any] = await asyncio.gather(*(s.poll() for s in spawners))
    assert results == [None] * 20  # nobody is declared dead
    assert emulator.stats()["faults"]["ecs:DescribeTasks"]["throttle"] == 1  # one shared try
