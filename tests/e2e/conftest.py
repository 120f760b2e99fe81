"""The end-to-end stack: emulator, local ECS agents, JupyterHub and configurable-http-proxy.

One hub serves most tests (each uses its own user names); tests that restart the hub or
need other hub settings build their own with :func:`own_stack`. Nothing here is mocked:
``jupyterhub-singleuser`` runs inside each "task", reached through the real proxy.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from demo.stack import HubStack

from .hubclient import HubClient

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOLD_NODE = ("mi-00000000000000043", "127.0.0.43", {"hold": "true"}, ["--hold-pending", "300"])
# Image pulls take 3 s there: long enough to watch the progress page in a browser.
SLOW_PULL_NODE = ("mi-00000000000000044", "127.0.0.44", {"pull": "slow"}, ["--pull-delay", "3"])

NARROW_REAPER_TOKEN = "narrow-reaper-token-for-tests-only"

# Profiles only the tests use, added to the demo's menu.
E2E_CONFIG = f"""
c.AWSSpawner.profile_list.append({{
    "display_name": "A node that never gets the image (task stays PENDING)",
    "slug": "held",
    "spawner_override": {{
        "launch_type": "EXTERNAL",
        "task_definition_family": "notebook-anywhere-bridge",
        "task_subnets": [], "task_security_groups": [], "efs_file_system_id": None,
        "placement_constraints": [{{"type": "memberOf", "expression": "attribute:hold == true"}}],
    }},
}})
c.AWSSpawner.profile_list.append({{
    "display_name": "A server that exits at once",
    "slug": "crash",
    "spawner_override": {{
        "launch_type": "EC2",
        "task_definition_family": "notebook-ec2",
        "task_subnets": [], "task_security_groups": [],
        "cmd": [{sys.executable!r}, "-c",
                "import sys; print('ImportError: no module named my_lab_extension'); sys.exit(3)"],
    }},
}})
c.AWSSpawner.profile_list.append({{
    "display_name": "ECS Anywhere: a node with a slow registry",
    "slug": "slow-pull",
    "description": "Image pulls take a few seconds here.",
    "spawner_override": {{
        "launch_type": "EXTERNAL",
        "task_definition_family": "notebook-anywhere-bridge",
        "task_subnets": [], "task_security_groups": [], "efs_file_system_id": None,
        "placement_constraints": [{{"type": "memberOf", "expression": "attribute:pull == slow"}}],
    }},
}})
# A reaper service given list:users alone: the hub then answers users without their servers.
c.JupyterHub.services.append({{"name": "narrow-reaper", "api_token": {NARROW_REAPER_TOKEN!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "narrow-reaper", "scopes": ["list:users"], "services": ["narrow-reaper"]}}
)
# POST .../server answers 202 at once; tests follow the spawn on the progress stream.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
"""

SPAWN_TIMES: dict[str, list[float]] = {}


def e2e_stack(extra_config: str = "") -> HubStack:
    return HubStack(extra_config=E2E_CONFIG + extra_config, extra_nodes=[HOLD_NODE, SLOW_PULL_NODE])


@contextlib.asynccontextmanager
async def own_stack(extra_config: str = "") -> AsyncIterator[tuple[HubStack, HubClient]]:
    """A hub of the test's own (other hub settings, restarts), stopped and checked after."""
    stack = e2e_stack(extra_config).start()
    try:
        async with aiohttp.ClientSession() as session:
            yield stack, HubClient(stack, session)
    finally:
        stop_and_check(stack)


def stop_and_check(stack: HubStack) -> None:
    still_running, left = stack.stop()
    assert not still_running, f"tasks still running after the hub stopped: {still_running}"
    assert not left, f"processes outlived the stack: {left}"


@pytest.fixture(scope="session")
def stack() -> Iterator[HubStack]:
    hub = e2e_stack().start()
    try:
        yield hub
    finally:
        log = hub.hub_log_tail(200)
        try:
            stop_and_check(hub)
        except AssertionError:
            print(log)
            raise


@pytest.fixture
async def hub(stack: HubStack) -> AsyncIterator[HubClient]:
    async with aiohttp.ClientSession() as session:
        yield HubClient(stack, session)


def record_spawn(mode: str, seconds: float) -> None:
    SPAWN_TIMES.setdefault(mode, []).append(seconds)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SPAWN_TIMES:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-spawn-times.json").write_text(json.dumps(SPAWN_TIMES, indent=2))
    terminalreporter.section("spawn to ready (REST POST -> server ready), seconds")
    for mode, times in sorted(SPAWN_TIMES.items()):
        terminalreporter.write_line(f"{mode:>18}: " + ", ".join(f"{t:.2f}" for t in times))
