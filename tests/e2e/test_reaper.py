"""The orphan reaper against a real hub, and a hub killed around RunTask.

The reaper runs as ``python -m awsspawner.reaper --once`` with the environment JupyterHub
gives a managed service and a token holding only ``list:users`` and ``read:servers``; the
tests of races between its reads run it in this process against the same real hub.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import aiohttp
import pytest
from demo.stack import CLUSTER, HubStack

from awsspawner.aws.auth import AWSSpawnerAuthentication
from awsspawner.aws.clients import close_shared_clients, shared_client
from awsspawner.aws.gateway import ECSGateway
from awsspawner.launch.tags import TAG_HUB, TAG_SERVER, TAG_USER, escape_tag_value
from awsspawner.reaper import (
    Decision,
    HubAPI,
    HubServers,
    HubViewError,
    confirm_stop,
    reap_once,
)

from .conftest import NARROW_REAPER_TOKEN, e2e_stack, own_stack, stop_and_check
from .hubclient import HubClient, tasks_of, wait_task_status

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def plant_task(
    stack: HubStack,
    user: str,
    server: str = "",
    started_by: str = "jupyterhub-jupyterhub",
    environment: dict[str, str] | None = None,
) -> str:
    """A task as awsspawner would have started it for ``user``, with nobody tracking it."""
    ecs = stack.emulator.client("ecs")
    container: dict[str, Any] = {"name": "notebook", "command": SLEEPER}
    if environment:
        container["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
    answer = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition="notebook-ec2",
        launchType="EC2",
        startedBy=started_by,
        tags=[
            {"key": TAG_USER, "value": escape_tag_value(user)},
            {"key": TAG_SERVER, "value": escape_tag_value(server)},
            {"key": TAG_HUB, "value": "jupyterhub"},
        ],
        overrides={"containerOverrides": [container]},
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
    assert "reaper round skipped: GET /user answered 403" in result.stderr


async def test_a_token_without_read_servers_stops_nothing(hub: HubClient, stack: HubStack) -> None:
    # With list:users alone the hub answers 200 with users that have no "servers" key; read as
    # "no servers", that stopped every live server. The reaper now refuses to run.
    await hub.create_user("narrow-live")
    await hub.start("narrow-live", profile="ec2")
    await hub.wait_ready("narrow-live")
    live = tasks_of(stack, "narrow-live")[0]["taskArn"]
    stack.reaper_token, real = NARROW_REAPER_TOKEN, stack.reaper_token
    try:
        result = stack.run_reaper("--grace", "0")
    finally:
        stack.reaper_token = real
    assert result.returncode == 2, result.stderr
    assert "reaper refuses to run: the reaper's token lacks the scopes read:servers" in (
        result.stderr
    )
    assert "stopped" not in result.stderr
    assert desired(stack, [live]) == {live: "RUNNING"}
    await hub.stop("narrow-live")


async def test_a_renamed_user_keeps_the_running_server(hub: HubClient, stack: HubStack) -> None:
    await hub.create_user("rename-before")
    await hub.start("rename-before", profile="ec2")
    await hub.wait_ready("rename-before")
    arn = tasks_of(stack, "rename-before")[0]["taskArn"]
    status, body = await hub.call("PATCH", "/users/rename-before", {"name": "rename-after"})
    assert status == 200, body

    result = stack.run_reaper("--grace", "0")
    assert result.returncode == 0, result.stderr
    assert f"keep {arn}: user 'rename-before', server '': created" in result.stderr
    assert "after user 'rename-after' started server ''" in result.stderr
    assert desired(stack, [arn]) == {arn: "RUNNING"}
    # A new user takes the old name: the tag now names a user without a running server.
    await hub.create_user("rename-before")
    result = stack.run_reaper("--grace", "0")
    assert result.returncode == 0, result.stderr
    assert f"keep {arn}" in result.stderr
    assert desired(stack, [arn]) == {arn: "RUNNING"}
    # The spawner still tracks its task under the new name, and stops it.
    await hub.stop("rename-after")
    await wait_task_status(stack, arn, "STOPPED")


class DeletingHubAPI(HubAPI):
    """The reaper's own REST client; after the first page of users an admin deletes a user,
    as jupyterhub-idle-culler --cull-users or the admin page would, between two reads."""

    def __init__(self, *args: Any, delete: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delete = delete

    async def _get(self, path: str, *, missing_ok: bool = False) -> Any:
        answer = await super()._get(path, missing_ok=missing_ok)
        if path.startswith("/users?offset=0&") and self.delete is not None:
            delete, self.delete = self.delete, None
            await delete()
        return answer


async def test_a_user_deleted_between_pages_costs_no_other_user_their_server(
    hub: HubClient, stack: HubStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The user list is paged by offset: deleting an earlier user shifts the next one onto a
    # page already read. The last user (newest id) holds a running server.
    await hub.create_user("page-victim")
    await hub.create_user("page-live")
    await hub.start("page-live", profile="ec2")
    await hub.wait_ready("page-live")
    arn = tasks_of(stack, "page-live")[0]["taskArn"]
    async with hub.session.get(
        f"{stack.url}/hub/api/users?limit=1",
        headers={
            "Authorization": f"token {stack.service_token}",
            "Accept": "application/jupyterhub-pagination+json",
        },
    ) as answer:
        total = int((await answer.json())["_pagination"]["total"])  # page-live: the last

    async def delete_victim() -> None:
        status, _ = await hub.call("DELETE", "/users/page-victim")
        assert status == 204

    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.emulator.proxy_url)
    auth = AWSSpawnerAuthentication()

    async def client() -> Any:
        return await shared_client("ecs", auth=auth, region="us-east-1")

    try:
        reaper_hub = DeletingHubAPI(
            hub.session,
            f"{stack.url}/hub/api",
            stack.reaper_token,
            page_size=total - 1,  # page-live alone on the second page
            delete=delete_victim,
        )
        with pytest.raises(HubViewError, match="changed while it was read"):
            await reap_once(
                ECSGateway(client), reaper_hub, cluster=CLUSTER, hub_id="jupyterhub", grace=0
            )
        # And a stop is confirmed with the hub just before it: a round that thought this
        # user gone (an older picture) keeps the task once the hub says the server is ready.
        thought_gone = Decision(arn, "stop", "no such user", user="page-live", server="")
        confirmed = await confirm_stop(reaper_hub, HubServers(), thought_gone, reaper_hub.servers)
        assert confirmed.action == "keep", confirmed
    finally:
        await close_shared_clients()
    assert desired(stack, [arn]) == {arn: "RUNNING"}
    await hub.stop("page-live")


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


async def test_the_reaper_at_debug_logs_no_task_environment(
    hub: HubClient, stack: HubStack
) -> None:
    # At DEBUG botocore logs every DescribeTasks answer, with each server's environment: the
    # user's JupyterHub API token among them.
    await hub.create_user("debug-live")
    await hub.start("debug-live", profile="ec2")
    await hub.wait_ready("debug-live")
    [task] = tasks_of(stack, "debug-live")
    ecs = stack.emulator.client("ecs")
    described = ecs.describe_tasks(cluster=CLUSTER, tasks=[task["taskArn"]])["tasks"][0]
    environment = {
        item["name"]: item["value"]
        for item in described["overrides"]["containerOverrides"][0]["environment"]
    }
    token = environment["JUPYTERHUB_API_TOKEN"]
    assert len(token) >= 16
    # An administrator's secret under a name that does not look secret.
    database = "postgres://notebooks:hunter2-" + "7f3a9c1e5b" + "@db.internal/notebooks"
    planted = plant_task(stack, "debug-ghost", environment={"DATABASE_URL": database})

    result = stack.run_reaper("--grace", "0", "--dry-run", "--log-level", "DEBUG")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DescribeTasks" in result.stderr  # botocore's records are there...
    assert "JUPYTERHUB_API_TOKEN" in result.stderr
    assert "DATABASE_URL" in result.stderr
    for secret in (token, database, stack.reaper_token):  # ...without the values
        assert secret not in result.stderr
        assert secret[-12:] not in result.stderr
    assert "hunter2" not in result.stderr
    ecs.stop_task(cluster=CLUSTER, task=planted)
    await wait_task_status(stack, planted, "STOPPED")
    await hub.stop("debug-live")
