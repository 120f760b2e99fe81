"""Picking a port for a host-network server (``c.AWSSpawner.use_dynamic_port``).

In host mode a task's server listens directly on its node, so two servers on one node need
different ports. ECS does not choose them (that happens only for bridge mode's hostPort), so
the spawner does: a port from ``port_range_start`` to ``port_range_end`` that none of this
hub's running tasks uses (their ``awsspawner:port`` tags, read with one ListTasks by the hub's
``startedBy`` and DescribeTasks in batches), and that no other spawn of this hub process has
just picked (an in-memory reservation, held until that spawn ends). The task is placed after
the port is chosen, so the port is free on whichever node ECS picks.
"""

from __future__ import annotations

import random

from ..aws.gateway import ECSGateway
from ..aws.tasks import tag_value
from ..launch.tags import TAG_PORT

__all__ = ["NoFreePortError", "choose_port"]


class NoFreePortError(RuntimeError):
    """Every port of the range is taken by this hub's running servers."""


async def choose_port(
    gateway: ECSGateway,
    cluster: str,
    started_by: str,
    start: int,
    end: int,
    reserved: set[int],
    avoid: set[int] | frozenset[int] = frozenset(),
) -> int:
    """A free port, reserved in ``reserved``; ``avoid``: ports this spawn already failed on."""
    tagged: set[int] = set()
    running = await gateway.list_tasks(cluster, started_by, desired=("RUNNING",))
    if running:
        described = await gateway.describe_tasks(cluster, running, include_tags=True)
        for task in described.tasks.values():
            value = tag_value(task, TAG_PORT)
            if value and value.isdigit():
                tagged.add(int(value))
    # From here to the reservation nothing awaits: concurrent spawns of this hub read
    # ``reserved`` only after their own AWS calls, so each sees the others' picks.
    used = reserved | avoid | tagged
    free = [port for port in range(start, end + 1) if port not in used]
    if not free:
        raise NoFreePortError(f"all {end - start + 1} ports from {start} to {end} are in use")
    port = random.choice(free)  # noqa: S311 - spreading, not secrecy
    reserved.add(port)
    return port
