"""A real JupyterHub spawning real notebook servers through awsspawner (REST API).

Every test ends with the exact set of tasks it expects: its servers' tasks STOPPED and their
processes gone.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from demo.stack import HubStack

from awsspawner.launch.tags import is_valid_tag_value, unescape_tag_value

from .conftest import own_stack, record_spawn
from .hubclient import HubClient, task_processes, tasks_of, wait_no_processes, wait_task_status

LAUNCH_MODES = {
    # profile slug: what it exercises
    "fargate": "FARGATE, awsvpc (task ENI on 127.0.0.x)",
    "fargate-spot": "FARGATE_SPOT capacity provider, awsvpc",
    "ec2": "EC2 container instance, bridge network",
    "gpu-workstation": "EXTERNAL (ECS Anywhere), bridge network",
    "cpu-server": "EXTERNAL (ECS Anywhere), host network, dynamic port",
}


async def spawn_ready(hub: HubClient, user: str, server: str = "", **options: str) -> float:
    await hub.create_user(user)
    began = time.monotonic()
    status, body = await hub.start(user, server, **options)
    assert status in (201, 202), body
    await hub.wait_ready(user, server)
    return time.monotonic() - began


def server_path(user: str, server: str = "") -> str:
    return f"/user/{user}/{server + '/' if server else ''}"


async def only_task(stack: HubStack, user: str, server: str = "") -> dict:
    tasks = tasks_of(stack, user, server)
    assert len(tasks) == 1, [t["taskArn"] for t in tasks]
    return tasks[0]


async def assert_stopped_cleanly(stack: HubStack, arn: str) -> None:
    task = await wait_task_status(stack, arn, "STOPPED")
    assert task["desiredStatus"] == "STOPPED"
    await wait_no_processes(arn)


@pytest.mark.parametrize("profile", list(LAUNCH_MODES))
async def test_rest_spawn_reach_and_stop_each_launch_mode(
    hub: HubClient, stack: HubStack, profile: str
) -> None:
    user = f"rest-{profile}"
    seconds = await spawn_ready(hub, user, profile=profile)
    record_spawn(profile, seconds)
    task = await only_task(stack, user)
    assert task["lastStatus"] == "RUNNING"
    assert task_processes(task["taskArn"]), "no jupyterhub-singleuser process for the task"

    token = await hub.user_token(user)
    assert await hub.through_proxy(server_path(user) + "api/status", token) == 200
    # Without a token the notebook server (not the hub) answers: a redirect to log in.
    assert await hub.through_proxy(server_path(user) + "api/status", "") in (302, 403)

    await hub.stop(user)
    await assert_stopped_cleanly(stack, task["taskArn"])
    assert len(tasks_of(stack, user)) == 1
    # The server reached the hub with the API token this spawn was given.
    assert f"403 POST /hub/api/users/{user}/activity" not in stack.log_path.read_text()


async def test_named_servers_run_as_independent_tasks(hub: HubClient, stack: HubStack) -> None:
    user = "named"
    await hub.create_user(user)
    for server, profile in (("one", "fargate"), ("two", "gpu-workstation")):
        status, body = await hub.start(user, server, profile=profile)
        assert status in (201, 202), body
    await asyncio.gather(hub.wait_ready(user, "one"), hub.wait_ready(user, "two"))
    one, two = await only_task(stack, user, "one"), await only_task(stack, user, "two")
    assert one["taskArn"] != two["taskArn"]
    token = await hub.user_token(user)
    for server in ("one", "two"):
        assert await hub.through_proxy(server_path(user, server) + "api/status", token) == 200

    await hub.stop(user, "one")
    await assert_stopped_cleanly(stack, one["taskArn"])
    assert await hub.through_proxy(server_path(user, "two") + "api/status", token) == 200
    await hub.stop(user, "two")
    await assert_stopped_cleanly(stack, two["taskArn"])


async def test_progress_stream_shows_ecs_stages_to_every_listener(hub: HubClient) -> None:
    user = "progress"
    await hub.create_user(user)
    status, body = await hub.start(user, profile="ec2")
    assert status == 202, body

    async def listen() -> list[dict]:
        return [event async for event in hub.progress(user)]

    first, second = await asyncio.gather(listen(), listen())
    assert first[-1].get("ready"), first[-1]
    messages = [e["message"] for e in first]
    stages = [
        "ECS accepted the request",
        "ECS placed your server",
        "Downloading the container image",
        "Your server's container is running",
        "Finding your server's address",
    ]
    positions = [next(i for i, m in enumerate(messages) if stage in m) for stage in stages]
    assert positions == sorted(positions), messages
    percents = [e["progress"] for e in first]
    assert percents == sorted(percents), percents
    assert [e["message"] for e in second] == messages
    await hub.stop(user)


async def test_stop_while_pending_stops_the_task(hub: HubClient, stack: HubStack) -> None:
    user = "pending"
    await hub.create_user(user)
    status, body = await hub.start(user, profile="held")
    assert status == 202, body
    deadline = time.monotonic() + 30
    while not (tasks := tasks_of(stack, user)) or tasks[0]["lastStatus"] != "PENDING":
        assert time.monotonic() < deadline, "the task never reached PENDING"
        await asyncio.sleep(0.1)
    await hub.stop(user)
    await assert_stopped_cleanly(stack, tasks[0]["taskArn"])
    assert len(tasks_of(stack, user)) == 1


async def test_server_exiting_during_start_fails_fast_with_its_reason(
    hub: HubClient, stack: HubStack
) -> None:
    user = "crash"
    await hub.create_user(user)
    began = time.monotonic()
    status, body = await hub.start(user, profile="crash")
    assert status == 202, body
    events = [event async for event in hub.progress(user)]
    elapsed = time.monotonic() - began
    assert events[-1].get("failed"), events[-1]
    message = events[-1]["message"]
    assert message.startswith("Spawn failed: Your server's task stopped while starting"), message
    assert "exited with code 3" in message, message
    assert elapsed < 20, f"the failure took {elapsed:.1f} s to surface"
    task = await only_task(stack, user)
    await assert_stopped_cleanly(stack, task["taskArn"])
    assert await hub.server_model(user) is None


async def test_hub_restart_keeps_servers_and_stops_them_later() -> None:
    """cleanup_servers = False, persistent database and cookie secret (the hub's folder)."""
    async with own_stack("c.JupyterHub.cleanup_servers = False\n") as (stack, hub):
        user = "restart"
        await spawn_ready(hub, user, profile="cpu-server")
        token = await hub.user_token(user)
        task = await only_task(stack, user)

        stack.stop_hub()  # SIGTERM; servers are left running
        left_running = await wait_task_status(stack, task["taskArn"], "RUNNING")
        assert left_running["desiredStatus"] == "RUNNING"
        stack.start_hub()

        model = await hub.wait_ready(user)
        assert model["ready"]
        assert await hub.through_proxy(server_path(user) + "api/status", token) == 200
        await hub.stop(user)
        await assert_stopped_cleanly(stack, task["taskArn"])
        assert len(tasks_of(stack, user)) == 1


async def test_start_timeout_stops_the_task() -> None:
    async with own_stack("c.AWSSpawner.start_timeout = 5\n") as (stack, hub):
        user = "slow"
        await hub.create_user(user)
        status, body = await hub.start(user, profile="held")
        assert status == 202, body
        events = [event async for event in hub.progress(user)]
        assert events[-1].get("failed"), events[-1]
        message = events[-1]["message"]
        assert "did not start within 5 s (c.AWSSpawner.start_timeout)" in message, message
        assert "last news from ECS: Downloading the container image" in message, message
        task = await only_task(stack, user)
        await assert_stopped_cleanly(stack, task["taskArn"])


HOSTILE_OPTIONS = [
    {"profile": "no-such-profile"},
    {"profile": 5},
    {"profile": ["fargate"]},
    {"profile": "fargate", "image": "no-such-choice"},
    {"profile": "fargate", "image--unlisted-choice": "attacker/miner:latest"},
    {"profile": "fargate", "cpu": 65536},
    {"profile": "fargate\u0000"},
    {"profile": "x" * 100_000},
]


@pytest.mark.parametrize("options", HOSTILE_OPTIONS, ids=lambda o: repr(o)[:40])
async def test_hostile_user_options_are_a_400_and_start_nothing(
    hub: HubClient, stack: HubStack, options: dict
) -> None:
    user = "hostile"
    await hub.create_user(user)
    status, body = await hub.call("POST", f"/users/{user}/server", {"user_options": options})
    assert status == 400, (status, body)
    assert "Invalid server options" in body["message"], body
    assert len(body["message"]) < 2000  # a 100 kB value is not echoed back whole
    assert await hub.server_model(user) is None
    assert tasks_of(stack, user) == []


async def test_unicode_user_and_server_names_spawn_with_valid_tags(
    hub: HubClient, stack: HubStack
) -> None:
    from urllib.parse import quote

    # JupyterHub 6 allows only safe slugs as new server names; user names are freer.
    user, server = "zoë o'brien+ü", "analysis-2"
    await hub.create_user(quote(user, safe=""))
    status, body = await hub.start(quote(user, safe=""), quote(server, safe=""), profile="ec2")
    assert status in (201, 202), body
    await hub.wait_ready(quote(user, safe=""), server)
    task = await only_task(stack, user, server)
    tags = {t["key"]: t["value"] for t in task["tags"]}
    # ECS's tag alphabet has no apostrophe: escaped, valid, and reversible.
    assert tags["awsspawner:user"] != user
    assert is_valid_tag_value(tags["awsspawner:user"])
    assert unescape_tag_value(tags["awsspawner:user"]) == user
    assert unescape_tag_value(tags["awsspawner:server"]) == server
    await hub.stop(quote(user, safe=""), quote(server, safe=""))
    await assert_stopped_cleanly(stack, task["taskArn"])
