"""``python -m tests.emulator.measure_spawns``: AWS calls per spawn by operation, and
spawn-to-ready time per launch mode, through the counting proxy (startup_poll_interval 0.2 s,
no pull delay). Spawner objects driven directly; the URL answer is awaited by HTTP."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import urllib.request
from types import SimpleNamespace
from typing import Any

from jupyterhub.objects import Hub

from awsspawner import AWSSpawner, close_shared_clients

from .launcher import Emulator, http

SERVER = [sys.executable, "-m", "http.server", "8888", "--bind", "0.0.0.0"]  # noqa: S104
CONTAINER = {
    "name": "notebook",
    "image": "local/notebook:1",
    "memory": 256,
    "portMappings": [{"containerPort": 8888}],
}


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
            return True
    except OSError:
        return False


async def spawn_once(mode: dict[str, Any], user: str) -> tuple[float, AWSSpawner]:
    spawner = AWSSpawner(
        user=SimpleNamespace(name=user, url=f"/user/{user}/", escaped_name=user, id=1, settings={}),
        hub=Hub(),
        api_token="measure-token",
        cmd=SERVER,
        task_cluster_name="m",
        task_container_name="notebook",
        startup_poll_interval=0.2,
        **mode,
    )
    started = time.monotonic()
    url = await spawner.start()
    deadline = started + 30
    while time.monotonic() < deadline:  # the server runs in another process: ask it
        if await asyncio.to_thread(_answers, url + "/"):
            break
        await asyncio.sleep(0.02)
    return time.monotonic() - started, spawner


async def measure(emulator: Emulator, subnet: str) -> None:
    fargate = {"task_definition_family": "fg", "task_subnets": [subnet]}
    modes = {
        "FARGATE": {**fargate, "launch_type": "FARGATE"},
        "FARGATE_SPOT": {**fargate, "launch_type": "FARGATE_SPOT"},
        "EC2 bridge": {"task_definition_family": "br", "launch_type": "EC2"},
    }
    for name, mode in modes.items():
        times = []
        spawners = []
        for n in range(5):
            http("POST", f"{emulator.proxy_url}/_proxy/reset")
            took, spawner = await spawn_once(mode, f"user{n}")
            calls = emulator.stats()["calls"]
            times.append(took)
            spawners.append(spawner)
            if n in (0, 1):
                label = "first spawn" if n == 0 else "next spawns"
                print(f"{name:12} {label}: {dict(sorted(calls.items()))}", flush=True)
        print(
            f"{name:12} spawn-to-ready (server answering): median "
            f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
            flush=True,
        )
        for spawner in spawners:
            await spawner.stop(now=True)
    await close_shared_clients()


def main() -> None:
    with Emulator() as emulator:
        emulator.reset()
        ecs = emulator.client("ecs")
        ecs.create_cluster(clusterName="m")
        subnet = emulator.loopback_subnet()
        ecs.register_task_definition(
            family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512", containerDefinitions=[CONTAINER],
        )  # fmt: skip
        ecs.register_task_definition(
            family="br", networkMode="bridge", containerDefinitions=[CONTAINER]
        )
        emulator.add_agent("m", fargate=True)
        emulator.add_agent("m", address="127.0.0.50")
        os.environ["AWS_ENDPOINT_URL"] = emulator.proxy_url
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "measure")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "measure")
        os.environ.setdefault("AWS_REGION", "us-east-1")
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        asyncio.run(measure(emulator, subnet))


if __name__ == "__main__":
    main()
