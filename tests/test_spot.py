"""Spot without surprises: interruptions explained, capacity fallback.

Against the emulator: its RunTask answers ``failures[]`` with ECS's "no capacity" reasons for
the launch types a test names (``Emulator.no_capacity``), and it can reclaim a task's Spot
capacity (``Emulator.interrupt``: stopCode set, desiredStatus STOPPED). Fargate tasks are
born RUNNING here (no agent): what is checked is what the hub asked and answered.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from awsspawner.errors import ConfigurationError, is_capacity_reason

from .conftest import CLUSTER, make_spawner
from .emulator.launcher import Emulator

FARGATE_FULL = (
    "Capacity is unavailable at this time. Please try again later or in a different "
    "availability zone"
)


def run_tasks(emulator: Emulator) -> list[dict[str, Any]]:
    return [json.loads(b) for b in emulator.request_bodies("ecs:RunTask")]


def spot_spawner(subnet: str, **config: Any):  # type: ignore[no-untyped-def]
    return make_spawner(
        task_subnets=[subnet],
        launch_type="FARGATE_SPOT",
        capacity_fallback=["FARGATE"],
        **config,
    )


@pytest.mark.parametrize(
    ("reason", "capacity"),
    [
        ("RESOURCE:MEMORY", True),
        ("RESOURCE:PORTS_TCP", True),
        (FARGATE_FULL, True),
        ("Spot capacity is not available", True),
        ("AGENT", False),
        ("MemberOf placement constraint unsatisfied.", False),
        ("ATTRIBUTE", False),
    ],
)
def test_which_failures_mean_no_capacity(reason: str, capacity: bool) -> None:
    assert is_capacity_reason(reason) is capacity


# -------------------------------------------------------------------------- fallback


async def test_no_spot_capacity_falls_back_to_on_demand_and_says_so(
    emulator: Emulator, fargate: str
) -> None:
    emulator.no_capacity({"FARGATE_SPOT": FARGATE_FULL})
    spawner = spot_spawner(fargate, assign_public_ip=True)
    await spawner.start()
    spot, on_demand = run_tasks(emulator)
    assert spot["capacityProviderStrategy"][0]["capacityProvider"] == "FARGATE_SPOT"
    assert "launchType" not in spot
    assert on_demand["launchType"] == "FARGATE"
    assert "capacityProviderStrategy" not in on_demand
    assert spot["clientToken"] != on_demand["clientToken"]  # a new request, not a retry
    # Each attempt shaped for its launch type: Fargate takes the public IP.
    assert on_demand["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "ENABLED"
    task = emulator.client("ecs").describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])
    assert task["tasks"][0]["launchType"] == "FARGATE"
    assert spawner.client_token == on_demand["clientToken"]
    messages = [e["message"] for e in spawner._progress.events]  # type: ignore[union-attr]
    assert "Fargate Spot has no capacity right now: starting on Fargate On-Demand" in messages
    await spawner.stop()


async def test_fallbacks_are_tried_in_order_and_the_last_refusal_is_reported(
    emulator: Emulator, fargate: str
) -> None:
    emulator.no_capacity({"FARGATE_SPOT": FARGATE_FULL, "FARGATE": FARGATE_FULL})
    spawner = spot_spawner(fargate)
    with pytest.raises(SpawnException, match="ECS could not start your server") as info:
        await spawner.start()
    assert "Capacity is unavailable" in str(info.value)
    assert len(run_tasks(emulator)) == 2
    assert not emulator.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"]
    assert not spawner.client_token  # nothing for stop() to look for


async def test_a_throttled_run_task_is_retried_never_a_fallback(
    emulator: Emulator, fargate: str
) -> None:
    emulator.faults([{"operation": "ecs:RunTask", "kind": "throttle", "rate": 1, "count": 2}])
    spawner = spot_spawner(fargate)
    await spawner.start()
    attempts = run_tasks(emulator)
    assert len(attempts) == 3  # two throttled sends of the same request, then it ran
    assert {a["clientToken"] for a in attempts} == {spawner.client_token}
    assert all("capacityProviderStrategy" in a for a in attempts)
    messages = [e["message"] for e in spawner._progress.events]  # type: ignore[union-attr]
    assert not [m for m in messages if "no capacity" in m]
    await spawner.stop()


async def test_other_failures_never_fall_back(emulator: Emulator, fargate: str) -> None:
    emulator.no_capacity({"FARGATE_SPOT": "AGENT"})
    spawner = spot_spawner(fargate)
    with pytest.raises(SpawnException, match="AGENT"):
        await spawner.start()
    assert len(run_tasks(emulator)) == 1


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (
            {"launch_type": "FARGATE", "capacity_fallback": ["EXTERNAL"]},
            "another network configuration",
        ),
        (
            {"launch_type": "EXTERNAL", "task_subnets": [], "capacity_fallback": ["FARGATE"]},
            "another network configuration",
        ),
        (
            {"launch_type": "EC2", "task_subnets": [], "capacity_fallback": ["FARGATE"]},
            "c.AWSSpawner.task_subnets",
        ),
        ({"launch_type": "FARGATE_SPOT", "capacity_fallback": ["ON_DEMAND"]}, "item 0"),
        (
            {"launch_type": "FARGATE_SPOT", "cpu": 1024, "memory": 1024,
             "capacity_fallback": ["FARGATE"]},
            "c.AWSSpawner.memory",
        ),
    ],
)  # fmt: skip
def test_fallbacks_that_cannot_work_are_refused_when_the_hub_starts(
    config: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_spawner(**config)
    assert problem in str(info.value)


def test_a_spot_to_ec2_fallback_drops_what_only_fargate_takes() -> None:
    spawner = make_spawner(
        launch_type="FARGATE_SPOT", platform_version="1.4.0", capacity_fallback=["EC2"]
    )
    (ec2,) = spawner.spawn_settings().fallbacks()
    assert ec2.launch.launch_type == "EC2"
    assert ec2.platform_version == ""


# ---------------------------------------------------------------------- interruptions


async def test_an_interrupted_spot_server_is_explained_at_the_next_spawn(
    emulator: Emulator, fargate: str, caplog: pytest.LogCaptureFixture
) -> None:
    spawner = make_spawner(
        task_subnets=[fargate],
        launch_type="FARGATE_SPOT",
        profile_list=[
            {"display_name": "Spot", "slug": "spot", "default": True},
            {"display_name": "On-Demand", "slug": "on-demand",
             "spawner_override": {"launch_type": "FARGATE"}},
        ],
    )  # fmt: skip
    spawner.poll_interval = 0
    await spawner.start()
    assert await spawner.poll() is None
    caplog.set_level(logging.WARNING, logger="awsspawner")
    emulator.interrupt(CLUSTER, spawner.task_arn)
    assert await spawner.poll() == 1  # gone: the hub will clean up
    assert await spawner.poll() == 1
    warnings = [r.getMessage() for r in caplog.records if "Spot capacity" in r.getMessage()]
    assert len(warnings) == 1, warnings  # logged once, however often it is polled
    assert "SpotInterruption" in warnings[0]
    await spawner.stop()
    spawner.clear_state()
    assert spawner.get_state()["interruption"].startswith("SpotInterruption ")

    form = await spawner.get_options_form()
    notice = re.search(r'<div class="alert alert-warning" role="alert">([^<]*)</div>', form)
    assert notice is not None
    assert form.index("alert-warning") < form.index("profile-item-spot")  # above the form
    assert re.search(r"reclaimed the Spot capacity .* at \d\d:\d\d UTC", notice.group(1))

    await spawner.start()
    first = spawner._progress.events[0]["message"]  # type: ignore[union-attr]
    assert re.search(
        r"AWS reclaimed the Spot capacity .* at \d\d:\d\d UTC \(SpotInterruption\)", first
    )
    assert not spawner.interruption  # told once
    assert "alert-warning" not in await spawner.get_options_form()
    await spawner.stop()


async def test_a_server_stopped_by_the_user_is_no_interruption(
    emulator: Emulator, fargate: str
) -> None:
    spawner = make_spawner(task_subnets=[fargate], launch_type="FARGATE_SPOT")
    await spawner.start()
    await spawner.stop()
    spawner.clear_state()
    assert not spawner.interruption
    await spawner.start()
    assert "reclaimed" not in spawner._progress.events[0]["message"]  # type: ignore[union-attr]
    await spawner.stop()
