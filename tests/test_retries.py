"""Retries and pacing: RunTask and StopTask are tried again with the same request (no second
task), refusals are not retried, and token buckets pace bursts to ECS's refill rates."""

from __future__ import annotations

import asyncio
import time

import pytest
from jupyterhub.spawner import SpawnException

from awsspawner.aws.ratelimit import TokenBucket

from .conftest import CLUSTER, make_spawner
from .emulator.launcher import Emulator


async def test_a_lost_runtask_answer_is_retried_without_a_second_task(
    emulator: Emulator, fargate: str
) -> None:
    # ECS starts the task, but the answer never reaches the hub (connection dropped).
    emulator.faults([{"operation": "ecs:RunTask", "kind": "lost", "rate": 1, "count": 1}])
    spawner = make_spawner(task_subnets=[fargate])  # botocore retries off: ours must do it
    url = await spawner.start()
    assert url.endswith(":8888")
    assert emulator.stats()["calls"]["ecs:RunTask"] == 2  # the retry, same clientToken
    tasks = emulator.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"]
    assert tasks == [spawner.task_arn]
    await spawner.stop()


async def test_stop_completes_under_throttling(emulator: Emulator, fargate: str) -> None:
    spawner = make_spawner(task_subnets=[fargate])
    await spawner.start()
    emulator.faults([{"operation": "ecs:StopTask", "kind": "throttle", "rate": 1, "count": 2}])
    await spawner.stop()
    task = emulator.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])
    assert task["tasks"][0]["lastStatus"] == "STOPPED"
    assert emulator.stats()["calls"]["ecs:StopTask"] == 3


async def test_non_retryable_errors_are_not_retried(emulator: Emulator, fargate: str) -> None:
    spawner = make_spawner(task_subnets=[fargate], task_cluster_name="no-such-cluster")
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert "[ClusterNotFoundException]" in caught.value.message
    calls = emulator.stats()["calls"]
    assert calls.get("ecs:RunTask") == 1


async def test_token_bucket_paces_a_burst() -> None:
    bucket = TokenBucket(rate=20.0, burst=2)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire() for _ in range(6)))
    # 2 at once from the burst, then 4 more at 20 per second.
    assert time.monotonic() - started >= 4 / 20.0 - 0.02


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
