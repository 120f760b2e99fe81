"""Driving a real JupyterHub through its REST API, as an admin script would (aiohttp).

Also what the tests look at on the AWS side (the emulator's ECS, through plain boto3) and on
this machine (the processes a task started, found by their working directory, which the
local agent names after the task).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from demo.stack import HubStack

from awsspawner.launch.tags import TAG_SERVER, TAG_USER, escape_tag_value

from ..helpers import task_processes

__all__ = ["HubClient", "task_processes", "tasks_of", "wait_no_processes", "wait_task_status"]


class HubClient:
    def __init__(self, stack: HubStack, session: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.session = session

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"token {token or self.stack.service_token}"}
        async with self.session.request(
            method, f"{self.stack.url}/hub/api{path}", json=body, headers=headers
        ) as answer:
            text = await answer.text()
            try:
                return answer.status, json.loads(text) if text else None
            except ValueError:
                return answer.status, text

    async def create_user(self, name: str) -> None:
        status, _ = await self.call("POST", f"/users/{name}")
        assert status in (201, 409), status

    async def user_token(self, name: str) -> str:
        status, body = await self.call("POST", f"/users/{name}/tokens", {"note": "e2e"})
        assert status == 201, body
        return str(body["token"])

    @staticmethod
    def server_path(name: str, server: str) -> str:
        return f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"

    async def start(self, name: str, server: str = "", **options: Any) -> tuple[int, Any]:
        """POST with JupyterHub 6's body: ``{"user_options": {...}}``."""
        return await self.call("POST", self.server_path(name, server), {"user_options": options})

    async def server_model(self, name: str, server: str = "") -> dict[str, Any] | None:
        status, body = await self.call("GET", f"/users/{name}")
        assert status == 200, body
        return body["servers"].get(server)  # type: ignore[no-any-return]

    async def wait_ready(self, name: str, server: str = "", timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            model = await self.server_model(name, server)
            if model and model["ready"]:
                return model
            assert model is not None, f"{name}:{server} is gone (spawn failed?)"
            assert time.monotonic() < deadline, f"{name}:{server} not ready: {model}"
            await asyncio.sleep(0.1)

    async def stop(self, name: str, server: str = "", timeout: float = 60) -> None:
        status, body = await self.call("DELETE", self.server_path(name, server))
        assert status in (202, 204), (status, body)
        deadline = time.monotonic() + timeout
        while await self.server_model(name, server) is not None:
            assert time.monotonic() < deadline, f"{name}:{server} did not stop"
            await asyncio.sleep(0.1)

    async def progress(self, name: str, server: str = "") -> AsyncIterator[dict[str, Any]]:
        """The spawn's event stream, until JupyterHub's final ``ready`` or ``failed``."""
        path = self.server_path(name, server) + "/progress"
        headers = {"Authorization": f"token {self.stack.service_token}"}
        timeout = aiohttp.ClientTimeout(total=120)
        async with self.session.get(
            f"{self.stack.url}/hub/api{path}", headers=headers, timeout=timeout
        ) as answer:
            assert answer.status == 200, await answer.text()
            async for raw in answer.content:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    event = json.loads(line[len("data:") :])
                    yield event
                    if event.get("ready") or event.get("failed"):
                        return

    async def log_in_and_open(self, name: str, path: str) -> tuple[int, str]:
        """Log in at the hub's form as ``name`` (a session of its own, with cookies) and open
        ``path`` on the user's server through the proxy, following every redirect: the
        OAuth round trip the notebook server completes with its own API token. (status of
        the last answer, its URL.)"""
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
        async with aiohttp.ClientSession(cookie_jar=jar) as browser:
            async with browser.get(f"{self.stack.url}/hub/login") as answer:
                page = await answer.text()
            form = {"username": name, "password": self.stack.password}
            found = re.search(r'name="_xsrf"\s+value="([^"]+)"', page)
            if found:
                form["_xsrf"] = html.unescape(found.group(1))
            async with browser.post(f"{self.stack.url}/hub/login", data=form) as answer:
                assert answer.status == 200, (answer.status, await answer.text())
            async with browser.get(f"{self.stack.url}{path}") as answer:
                await answer.read()
                return answer.status, str(answer.url)

    async def contents(
        self, user: str, path: str, token: str, method: str = "GET", body: Any = None
    ) -> tuple[int, Any]:
        """The Jupyter contents API of ``user``'s default server, through the proxy."""
        headers = {"Authorization": f"token {token}"}
        async with self.session.request(
            method,
            f"{self.stack.url}/user/{user}/api/contents/{path}",
            json=body,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            text = await answer.text()
            return answer.status, json.loads(text) if text.startswith("{") else text

    async def through_proxy(self, path: str, token: str) -> int:
        """GET a path through configurable-http-proxy (no redirects followed)."""
        headers = {"Authorization": f"token {token}"}
        async with self.session.get(
            f"{self.stack.url}{path}", headers=headers, allow_redirects=False
        ) as answer:
            return answer.status


# ------------------------------------------------------------------------- AWS side


def tasks_of(stack: HubStack, name: str, server: str = "") -> list[dict[str, Any]]:
    """Every task of the cluster tagged with this user and server (any status)."""
    ecs = stack.emulator.client("ecs")
    arns: list[str] = []
    for desired in ("RUNNING", "PENDING", "STOPPED"):
        arns += ecs.list_tasks(cluster=stack.cluster, desiredStatus=desired)["taskArns"]
    found = []
    for start in range(0, len(arns), 100):
        answer = ecs.describe_tasks(
            cluster=stack.cluster, tasks=arns[start : start + 100], include=["TAGS"]
        )
        for task in answer["tasks"]:
            tags = {t["key"]: t["value"] for t in task.get("tags", [])}
            user_tag, server_tag = escape_tag_value(name), escape_tag_value(server)
            if tags.get(TAG_USER) == user_tag and tags.get(TAG_SERVER, "") == server_tag:
                found.append(task)
    return found


async def wait_task_status(
    stack: HubStack, arn: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    ecs = stack.emulator.client("ecs")
    deadline = time.monotonic() + timeout
    while True:
        task = ecs.describe_tasks(cluster=stack.cluster, tasks=[arn])["tasks"][0]
        if task["lastStatus"] == status:
            return task  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"task {arn} is {task['lastStatus']}, not {status}"
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------- this machine


async def wait_no_processes(arn: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while task_processes(arn):
        assert time.monotonic() < deadline, f"processes of {arn} still alive"
        await asyncio.sleep(0.1)
