"""Persistent homes with a real hub: a user's notebook survives a stop, on Fargate and on EC2,
and no other user sees it; on ECS Anywhere, on the node's own disk. The notebook servers are
real (jupyterhub-singleuser); the emulator's agents mount each task's EFS access point as a
folder of one emulator-wide file system, and a node home as a folder of that node's own
(tests/emulator/agent.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

from demo.stack import CLUSTER, CPU_NODE, HubStack

from .hubclient import HubClient, tasks_of, wait_task_status
from .test_hub import assert_stopped_cleanly, only_task, spawn_ready

NOTEBOOK = {
    "type": "notebook",
    "format": "json",
    "content": {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "markdown",
                "id": "a1",
                "metadata": {},
                "source": "# Results of a long day's work",
            }
        ],
    },
}


def home_volume(stack: HubStack, task: dict) -> dict:
    """The EFS volume of the revision ``task`` runs."""
    ecs = stack.emulator.client("ecs")
    revision = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    (volume,) = [v for v in revision["taskDefinition"]["volumes"] if "efsVolumeConfiguration" in v]
    return dict(volume["efsVolumeConfiguration"])


async def test_a_notebook_survives_a_stop_and_no_other_user_sees_it(
    hub: HubClient, stack: HubStack
) -> None:
    user = "home-alice"
    await spawn_ready(hub, user, profile="fargate")
    token = await hub.user_token(user)
    status, saved = await hub.contents(user, "analysis.ipynb", token, "PUT", NOTEBOOK)
    assert status == 201, saved
    first = await only_task(stack, user)
    await hub.stop(user)
    await assert_stopped_cleanly(stack, first["taskArn"])

    # A new task, on Fargate again, then on an EC2 container instance: the same home.
    for profile in ("fargate", "ec2"):
        await spawn_ready(hub, user, profile=profile)
        status, loaded = await hub.contents(user, "analysis.ipynb", token)
        assert status == 200, loaded
        assert loaded["content"]["cells"][0]["source"] == "# Results of a long day's work"
        running = [
            t for t in stack.emulator.client("ecs").describe_tasks(
                cluster=CLUSTER, tasks=[t["taskArn"] for t in tasks_of(stack, user)]
            )["tasks"] if t["lastStatus"] == "RUNNING"
        ]  # fmt: skip
        (task,) = running
        assert task["taskArn"] != first["taskArn"]
        assert home_volume(stack, task) == home_volume(stack, first)
        await hub.stop(user)
        await wait_task_status(stack, task["taskArn"], "STOPPED")

    # The file is on the file system, in alice's directory.
    file_system = home_volume(stack, first)["fileSystemId"]
    on_disk = stack.emulator.efs_root / file_system / "jupyterhub" / "jupyterhub" / user
    assert json.loads((on_disk / "analysis.ipynb").read_text())["cells"][0]["cell_type"] == (
        "markdown"
    )

    # Another user's server starts in a home of its own, where alice's notebook is not.
    other = "home-bob"
    await spawn_ready(hub, other, profile="fargate")
    bob_token = await hub.user_token(other)
    status, listing = await hub.contents(other, "", bob_token)
    assert status == 200, listing
    assert "analysis.ipynb" not in [item["name"] for item in listing["content"]]
    status, _ = await hub.contents(other, "analysis.ipynb", bob_token)
    assert status == 404
    bob_task = await only_task(stack, other)
    assert (
        home_volume(stack, bob_task)["authorizationConfig"]["accessPointId"]
        != home_volume(stack, first)["authorizationConfig"]["accessPointId"]
    )
    await hub.stop(other)
    await assert_stopped_cleanly(stack, bob_task["taskArn"])


async def test_a_node_home_on_ecs_anywhere_survives_a_stop_and_stays_on_its_node(
    hub: HubClient, stack: HubStack
) -> None:
    user, other = "node-carol", "node-dan"
    node, _, _ = CPU_NODE
    await spawn_ready(hub, user, profile="cpu-server")
    token = await hub.user_token(user)
    status, saved = await hub.contents(user, "analysis.ipynb", token, "PUT", NOTEBOOK)
    assert status == 201, saved
    first = await only_task(stack, user)
    # The directory is on the node's own disk, created by Docker's part (the agent) and given
    # to the notebook user by the revision's helper container before the server started.
    home = stack.emulator.node_root(node) / "srv" / "jupyterhub" / "cpu" / user
    assert (home / "analysis.ipynb").is_file()
    if os.geteuid() == 0:  # only root can give a directory away; CI runs as root
        info = home.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 100, 0o750)
    await hub.stop(user)
    await assert_stopped_cleanly(stack, first["taskArn"])

    await spawn_ready(hub, user, profile="cpu-server")
    status, loaded = await hub.contents(user, "analysis.ipynb", token)
    assert status == 200, loaded
    assert loaded["content"]["cells"][0]["source"] == "# Results of a long day's work"
    # The second RunTask was pinned to the node that holds the home.
    pinned = [json.loads(body) for body in stack.emulator.request_bodies("ecs:RunTask")]
    mine = [b for b in pinned if any(t["value"] == user for t in b.get("tags", []))]
    assert {"type": "memberOf", "expression": f"ec2InstanceId == {node}"} not in (
        mine[0].get("placementConstraints") or []
    )
    assert {"type": "memberOf", "expression": f"ec2InstanceId == {node}"} in (
        mine[-1]["placementConstraints"]
    )
    await hub.stop(user)

    # Another user on the same node: a directory of their own, where carol's file is not.
    await spawn_ready(hub, other, profile="cpu-server")
    other_token = await hub.user_token(other)
    status, listing = await hub.contents(other, "", other_token)
    assert status == 200, listing
    assert "analysis.ipynb" not in [item["name"] for item in listing["content"]]
    status, _ = await hub.contents(other, "analysis.ipynb", other_token)
    assert status == 404
    other_task = await only_task(stack, other)
    await hub.stop(other)
    await assert_stopped_cleanly(stack, other_task["taskArn"])


async def awsspawner_command(stack: HubStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m awsspawner`` with the hub's config file, its AWS environment, and a hub API
    token that may list users (the reaper service's: list:users and read:servers only)."""
    env = stack.hub_environment()
    env["JUPYTERHUB_API_TOKEN"] = stack.reaper_token
    config = ["-f", str(stack.workdir / "jupyterhub_config.py")]
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "awsspawner", *args[:2], *config, *args[2:]],
        env=env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_homes_prepare_from_the_hub_makes_first_spawns_register_nothing(
    hub: HubClient, stack: HubStack
) -> None:
    """``awsspawner homes prepare --from-hub``: the hub's own user list (through its REST API,
    with a token that may only list users), the hub's own config file."""
    users = ["class-ada", "class-grace"]
    for user in users:
        await hub.create_user(user)
    done = await awsspawner_command(stack, "homes", "prepare", "--from-hub", stack.url)
    assert done.returncode == 0, done.stderr
    assert " 0 failed" in done.stderr
    registered = len(stack.emulator.request_bodies("ecs:RegisterTaskDefinition"))

    await spawn_ready(hub, users[0], profile="fargate")
    assert len(stack.emulator.request_bodies("ecs:RegisterTaskDefinition")) == registered
    task = await only_task(stack, users[0])
    await hub.stop(users[0])
    await assert_stopped_cleanly(stack, task["taskArn"])

    listed = await awsspawner_command(stack, "homes", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    homes = {(h["user"], h["kind"]) for h in json.loads(listed.stdout)}
    assert {(user, "efs") for user in users} <= homes


async def test_the_reaper_names_homes_of_users_the_hub_lacks_and_deletes_nothing(
    hub: HubClient, stack: HubStack
) -> None:
    await hub.create_user("home-stayer")
    done = await awsspawner_command(
        stack, "homes", "prepare", "--users", "home-stayer", "home-leaver"
    )
    assert done.returncode == 0, done.stderr
    listed = json.loads((await awsspawner_command(stack, "homes", "list", "--json")).stdout)
    (leaver,) = [h for h in listed if h["user"] == "home-leaver"]

    reaped = await asyncio.to_thread(stack.run_reaper)
    assert reaped.returncode == 0, reaped.stderr
    assert f"home revision {leaver['revisions'][0]} belongs to user 'home-leaver'" in (
        reaped.stderr
    )
    assert "user 'home-stayer'" not in reaped.stderr
    ecs = stack.emulator.client("ecs")
    described = ecs.describe_task_definition(taskDefinition=leaver["revisions"][0])
    assert described["taskDefinition"]["status"] == "ACTIVE"  # reported, never removed
    efs = stack.emulator.client("efs")
    assert efs.describe_access_points(AccessPointId=leaver["access_point"])["AccessPoints"]
