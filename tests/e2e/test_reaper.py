"""The orphan reaper against a real hub, and a hub killed around RunTask.

The reaper runs as ``python -m awsspawner.reaper --once`` with the environment JupyterHub
gives a managed service and a token holding only ``list:users`` and ``read:servers``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import pytest
from demo.stack import CLUSTER, HubStack

from awsspawner.naming import escape_tag_value
from awsspawner.requests import TAG_SERVER, TAG_USER

from .conftest import e2e_stack, own_stack, stop_and_check
from .hubclient import HubClient, tasks_of, wait_task_status

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def plant_task(
    stack: HubStack, user: str, server: str = "", started_by: str = "jupyterhub-jupyterhub"
) -> str:
    """A task as awsspawner would have started it for ``user``, with nobody tracking it."""
    ecs = stack.emulator.client("ecs")
    answer = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition="notebook-ec2",
        launchType="EC2",
        startedBy=started_by,
        tags=[
            {"key": TAG_USER, "value": escape_tag_value(user)},
            {"key": TAG_SERVER, "value": escape_tag_value(server)},
        ],
        overrides={"containerOverrides": [{"name": "notebook", "command": SLEEPER}]},
    )
    return str(answer["tasks"][0]["taskArn"])


def desired(stack: HubStack, arns: list[str]) -> dict[str, str]:
    ecs = stack.emulator.client("ecs")
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
    return {t["taskArn"]: t["desiredStatus"] for t in tasks}


async def test_reaper_stops_only_ownerless_tasks(hub: HubClient, stack: HubStack) -> None:
    # A live server, a spawn in flight (held PENDING), a user whose server is stopped.
    await hub.create_user("reap-live")
    await hub.start("reap-live", profile="ec2")
    await hub.wait_ready("reap-live")
    await hub.create_user("reap-inflight")
    await hub.start("reap-inflight", profile="held")
    await hub.create_user("reap-stopped")
    deadline = time.monotonic() + 30
    while not tasks_of(stack, "reap-inflight"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    live = tasks_of(stack, "reap-live")[0]["taskArn"]
    inflight = tasks_of(stack, "reap-inflight")[0]["taskArn"]

    orphan = plant_task(stack, "reap-ghost user/ü")  # no such user
    stale = plant_task(stack, "reap-stopped")  # the user exists, the server does not run
    other_hub = plant_task(stack, "reap-ghost", started_by="jupyterhub-another-hub")

    dry = stack.run_reaper("--grace", "0", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would stop {orphan}" in dry.stderr
    assert f"would stop {stale}" in dry.stderr
    assert set(desired(stack, [orphan, stale]).values()) == {"RUNNING"}

    young = stack.run_reaper("--grace", "600")
    assert young.returncode == 0, young.stderr
    assert f"wait {orphan}" in young.stderr
    assert set(desired(stack, [orphan, stale]).values()) == {"RUNNING"}

    round_ = stack.run_reaper("--grace", "0")
    assert round_.returncode == 0, round_.stderr
    assert f"stopped {orphan}: user 'reap-ghost user/ü', server '': no such user" in round_.stderr
    assert f"stopped {stale}: user 'reap-stopped', server '': server not running" in round_.stderr
    assert f"keep {live}: user 'reap-live', server '' is ready" in round_.stderr
    assert f"keep {inflight}: user 'reap-inflight', server '' is spawn" in round_.stderr
    assert "reaper round: " in round_.stderr
    assert "2 stopped" in round_.stderr
    assert desired(stack, [orphan, stale, live, inflight, other_hub]) == {
        orphan: "STOPPED",
        stale: "STOPPED",
        live: "RUNNING",
        inflight: "RUNNING",
        other_hub: "RUNNING",  # another hub's task is never touched
    }
    for arn in (orphan, stale):
        stopped = await wait_task_status(stack, arn, "STOPPED")
        assert stopped["stoppedReason"].startswith("awsspawner-reaper: ")

    await hub.stop("reap-live")
    await hub.stop("reap-inflight")
    stack.emulator.client("ecs").stop_task(cluster=CLUSTER, task=other_hub)
    await wait_task_status(stack, other_hub, "STOPPED")


def test_reaper_refuses_to_run_without_a_hub_token(stack: HubStack) -> None:
    stack.reaper_token, real = "not-a-token", stack.reaper_token
    try:
        result = stack.run_reaper("--grace", "0")
    finally:
        stack.reaper_token = real
    assert result.returncode == 1
    assert "reaper round skipped: GET /users answered 403" in result.stderr


# ------------------------------------------------------------------ hub killed mid-spawn


@pytest.fixture(scope="module")
def crash_stack() -> Any:
    stack = e2e_stack().start()
    try:
        yield stack
    finally:
        stop_and_check(stack)


def ownerless(stack: HubStack, servers: dict[str, list[str]]) -> list[str]:
    """Running tasks of users whose server the hub does not list as active."""
    ecs = stack.emulator.client("ecs")
    arns = stack.running_tasks()
    if not arns:
        return []
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"]
    found = []
    for task in tasks:
        tags = {t["key"]: t["value"] for t in task.get("tags", [])}
        if tags.get(TAG_SERVER, "") not in servers.get(tags.get(TAG_USER, ""), []):
            found.append(task["taskArn"])
    return found


@pytest.mark.parametrize(
    ("moment", "fault"),
    [
        # RunTask reached ECS (the task exists); its answer is held back while the hub dies.
        ("before RunTask returns", {"operation": "ecs:RunTask", "kind": "late", "delay": 30}),
        # RunTask answered and the task ARN is committed; the first look at it is slow.
        ("after RunTask returns", {"operation": "ecs:DescribeTasks", "kind": "slow", "delay": 30}),
    ],
)
async def test_hub_killed_around_runtask_recovers_the_server(
    crash_stack: HubStack, moment: str, fault: dict[str, Any]
) -> None:
    stack = crash_stack
    user = "crash-" + moment.split()[0]
    async with aiohttp.ClientSession() as session:
        hub = HubClient(stack, session)
        await hub.create_user(user)
        stack.emulator.faults([{**fault, "rate": 1.0, "count": 1}])
        await hub.start(user, profile="ec2")
        deadline = time.monotonic() + 30
        while not tasks_of(stack, user):
            assert time.monotonic() < deadline, "RunTask never reached ECS"
            await asyncio.sleep(0.05)
        first = tasks_of(stack, user)[0]["taskArn"]
        await asyncio.sleep(0.5)
        stack.kill_hub()  # SIGKILL: no cleanup of any kind
        stack.emulator.faults([])
        stack.start_hub()

        # JupyterHub recorded the server before calling start(); on restart it polls the
        # spawner with the state committed before RunTask (the clientToken, and the task ARN
        # when RunTask had answered): awsspawner finds the task and the server is recovered.
        await hub.wait_ready(user)
        token = await hub.user_token(user)
        assert await hub.through_proxy(f"/user/{user}/api/status", token) == 200
        running = [t for t in tasks_of(stack, user) if t["desiredStatus"] == "RUNNING"]
        assert [t["taskArn"] for t in running] == [first], "not the task of the first spawn"

        reaped = stack.run_reaper("--grace", "0")
        assert reaped.returncode == 0, reaped.stderr
        assert f"keep {first}" in reaped.stderr
        assert ownerless(stack, {user: [""]}) == [], reaped.stderr

        await hub.stop(user)
        await wait_task_status(stack, first, "STOPPED")


MANAGED_REAPER = """
import os, sys
# The documented hub-managed service; a service does not inherit the hub's environment, so
# the AWS settings are handed over explicitly (an instance profile or task role needs none).
c.JupyterHub.services[1]["command"] = [
    sys.executable, "-m", "awsspawner.reaper", "--cluster", "notebooks",
    "--region", "us-east-1", "--interval", "1", "--grace", "0",
]
c.JupyterHub.services[1]["environment"] = {
    name: value for name, value in os.environ.items() if name.startswith("AWS_")
}
"""


async def test_reaper_as_a_hub_managed_service() -> None:
    async with own_stack(MANAGED_REAPER) as (stack, hub):
        await hub.create_user("managed-live")
        await hub.start("managed-live", profile="gpu-workstation")
        await hub.wait_ready("managed-live")
        live = tasks_of(stack, "managed-live")[0]["taskArn"]
        orphan = plant_task(stack, "managed-ghost")
        stopped = await wait_task_status(stack, orphan, "STOPPED", timeout=30)
        assert stopped["stoppedReason"].startswith("awsspawner-reaper: ")
        assert desired(stack, [live]) == {live: "RUNNING"}
        log = stack.log_path.read_text()
        assert "Starting service 'awsspawner-reaper'" in log
        assert f"stopped {orphan}" in log
        await hub.stop("managed-live")
