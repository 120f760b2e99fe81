"""Fault scenarios at the spawner level, with exact task counts afterwards.

The emulator's proxy injects the faults with a fixed seed, so a run is repeatable. Spawners
are driven as JupyterHub drives them; the hub-level scenarios (a hub killed around RunTask,
the reaper) are in ``tests/e2e``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from awsspawner import AWSSpawner

from .conftest import CLUSTER, make_spawner
from .emulator.launcher import Emulator

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def spawner(subnet: str, n: int, **config: object) -> AWSSpawner:
    # botocore's own retries as a hub has them (standard mode, 3 attempts), plus ours.
    return make_spawner(user=f"user{n}", task_subnets=[subnet], aws_max_attempts=3, **config)


def running(emulator: Emulator) -> set[str]:
    ecs = emulator.client("ecs")
    return set(ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"])


async def test_fifty_spawns_with_30_percent_of_ecs_calls_throttled(
    emulator: Emulator,
    fargate: str,
) -> None:
    emulator.faults([{"operation": "ecs:*", "kind": "throttle", "rate": 0.3}], seed=7)
    spawners = [spawner(fargate, n) for n in range(50)]
    began = time.monotonic()
    urls = await asyncio.gather(*(s.start() for s in spawners))
    spawn_seconds = time.monotonic() - began

    assert all(url.endswith(":8888") for url in urls)
    arns = {s.task_arn for s in spawners}
    assert len(arns) == 50
    assert running(emulator) == arns  # exactly 50 tasks: no duplicate, none lost
    assert await asyncio.gather(*(s.poll() for s in spawners)) == [None] * 50

    await asyncio.gather(*(s.stop() for s in spawners))
    assert running(emulator) == set()
    stats = emulator.stats()
    ecs = emulator.client("ecs")
    stopped = ecs.describe_tasks(cluster=CLUSTER, tasks=sorted(arns)[:100])["tasks"]
    assert {t["lastStatus"] for t in stopped} == {"STOPPED"}

    throttled = {op: kinds["throttle"] for op, kinds in stats["faults"].items()}
    report = {
        "spawns": 50,
        "seconds_to_spawn_all": round(spawn_seconds, 2),
        "calls": stats["calls"],
        "throttled (each retried)": throttled,
        "tasks_running_after_spawn": len(arns),
        "tasks_running_after_stop": 0,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "faults-throttle-30.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    assert sum(throttled.values()) > 20  # the faults really happened


async def test_ecs_unreachable_in_steady_state_reports_no_server_stopped(
    emulator: Emulator,
    fargate: str,
) -> None:
    # Polls every second (the hub default is 30 s): answers older than 0.9 s are refreshed.
    spawners = [spawner(fargate, n, poll_interval=1) for n in range(10)]
    await asyncio.gather(*(s.start() for s in spawners))
    # ECS unreachable: every connection to it is cut, for several poll rounds.
    emulator.faults([{"operation": "ecs:*", "kind": "drop", "rate": 1.0}])
    for _ in range(3):
        await asyncio.sleep(1.0)  # older than the watcher's freshness window
        assert await asyncio.gather(*(s.poll() for s in spawners)) == [None] * 10
    dropped = emulator.stats()["faults"]["ecs:DescribeTasks"]["drop"]
    assert dropped >= 1

    emulator.faults([])
    before = emulator.stats()["calls"]["ecs:DescribeTasks"]
    await asyncio.sleep(1.0)
    assert await asyncio.gather(*(s.poll() for s in spawners)) == [None] * 10
    assert emulator.stats()["calls"]["ecs:DescribeTasks"] > before  # polls recovered
    await asyncio.gather(*(s.stop() for s in spawners))
    assert running(emulator) == set()
