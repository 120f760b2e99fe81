"""Spot with a real hub: an interruption the user hears about, capacity fallback, and no
fallback for throttling. The emulator reclaims a task's Spot capacity as AWS does (stopCode
SpotInterruption, then SIGTERM to the server from the local agent) and answers RunTask with
ECS's "no capacity" failure for the launch types a test names."""

from __future__ import annotations

import asyncio
import time

from demo.stack import CLUSTER

from .conftest import own_stack
from .hubclient import HubClient, tasks_of, wait_task_status
from .test_hub import only_task

# The hub polls servers every second (JupyterHub's default is 30 s): it notices at once.
SPOT_CONFIG = "c.AWSSpawner.poll_interval = 1\n"
NO_CAPACITY = (
    "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone"
)


async def spawn_and_follow(hub: HubClient, user: str, profile: str) -> list[str]:
    """Start ``user``'s server and return the progress stream's messages until ready."""
    await hub.create_user(user)
    status, body = await hub.start(user, profile=profile)
    assert status in (201, 202), body
    messages = []
    async for event in hub.progress(user):
        messages.append(str(event.get("message", "")))
        assert not event.get("failed"), messages
    await hub.wait_ready(user)
    return messages


async def test_spot_interruptions_and_capacity_fallback() -> None:
    async with own_stack(SPOT_CONFIG) as (stack, hub):
        # 1. An interruption: the hub marks the server stopped, the next spawn says why.
        user = "spot-reclaimed"
        await spawn_and_follow(hub, user, "fargate-spot")
        task = await only_task(stack, user)
        assert task["capacityProviderName"] == "FARGATE_SPOT"
        stack.emulator.interrupt(CLUSTER, task["taskArn"])
        stopped = await wait_task_status(stack, task["taskArn"], "STOPPED")
        assert stopped["stopCode"] == "SpotInterruption"
        deadline = time.monotonic() + 30
        while await hub.server_model(user) is not None:
            assert time.monotonic() < deadline, "the hub did not notice the server was gone"
            await asyncio.sleep(0.2)
        assert "Spot capacity of task" in stack.log_path.read_text()
        messages = await spawn_and_follow(hub, user, "fargate-spot")
        ours = [m for m in messages if m != "Server requested"]
        assert "AWS reclaimed the Spot capacity your last server ran on at" in ours[0], messages
        assert "(SpotInterruption)" in ours[0]
        await hub.stop(user)

        # 2. No Spot capacity: the server runs on Fargate On-Demand, and the user is told.
        stack.emulator.no_capacity({"FARGATE_SPOT": NO_CAPACITY})
        user = "spot-full"
        messages = await spawn_and_follow(hub, user, "fargate-spot")
        assert (
            "Fargate Spot has no capacity right now: starting on Fargate On-Demand" in messages
        ), messages
        task = await only_task(stack, user)
        assert task["launchType"] == "FARGATE"
        assert "capacityProviderName" not in task or task["capacityProviderName"] != "FARGATE_SPOT"
        await hub.stop(user)
        stack.emulator.no_capacity({})

        # 3. A throttled RunTask is retried, on Spot: throttling is never a reason to fall back.
        stack.emulator.faults(
            [{"operation": "ecs:RunTask", "kind": "throttle", "rate": 1, "count": 1}]
        )
        user = "spot-throttled"
        messages = await spawn_and_follow(hub, user, "fargate-spot")
        assert not [m for m in messages if "no capacity" in m], messages
        assert stack.emulator.stats()["faults"]["ecs:RunTask"]["throttle"] == 1
        (task,) = tasks_of(stack, user)
        assert task["capacityProviderName"] == "FARGATE_SPOT"
        await hub.stop(user)
        stack.emulator.faults([])
