"""The orphan reaper: stops ECS tasks of this hub that no JupyterHub server owns.

A task can outlive its server when the hub dies between RunTask and recording the server,
when a StopTask never arrived, or when a user is deleted while their server runs. Such a task
costs money every hour and nothing in JupyterHub will ever stop it. The reaper runs beside the
hub, like jupyterhub-idle-culler, as a hub-managed service::

    python -m awsspawner.reaper --cluster notebooks        (or: awsspawner-reaper ...)

Each round it

1. lists this hub's tasks: ListTasks by the hub's ``startedBy`` (``jupyterhub-<hub_id>``),
   then DescribeTasks with tags, 100 per call;
2. asks the hub's REST API which servers exist and are running or starting (scopes
   ``list:users`` and ``read:servers``; it never needs ``admin:server_state``);
3. keeps every task whose ``awsspawner:user`` / ``awsspawner:server`` tags name a server that
   is ready or pending; stops the others once they are older than ``--grace`` seconds (longer
   than the spawner's ``start_timeout``, so a spawn in flight is never touched).

One log line per decision and a summary line per round; ``--dry-run`` only says what it would
stop. Tasks without awsspawner's tags, or started by another hub, are never touched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .auth import AWSSpawnerAuthentication
from .clients import close_shared_clients, shared_client
from .errors import ECSError
from .gateway import ECSGateway
from .naming import escape_tag_value, started_by_for_hub, unescape_tag_value
from .requests import TAG_SERVER, TAG_USER

__all__ = ["Decision", "HubServers", "decide", "main", "reap_once"]

log = logging.getLogger("awsspawner.reaper")

#: Server "pending" states in which the hub itself is still working on the server.
HUB_PENDING = ("spawn", "check", "stop")


@dataclass
class HubServers:
    """What the hub says: every user, and their servers that are ready or pending."""

    users: set[str] = field(default_factory=set)
    #: (tag value of the user name, tag value of the server name) -> "ready" / pending state
    active: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, user: str, servers: Mapping[str, Mapping[str, Any]]) -> None:
        self.users.add(escape_tag_value(user))
        for name, server in servers.items():
            state = "ready" if server.get("ready") else str(server.get("pending") or "")
            if state == "ready" or state in HUB_PENDING:
                self.active[(escape_tag_value(user), escape_tag_value(name))] = state


@dataclass(frozen=True)
class Decision:
    arn: str
    action: str  # "keep", "wait" (an orphan still within the grace period), "stop", "skip"
    why: str


def _shown(tag_value: str) -> str:
    """A name from a tag, for log lines: unescaped when it can be, else the tag as it is."""
    try:
        return unescape_tag_value(tag_value)
    except ValueError:  # cut to a digest, or not our escaping at all
        return tag_value


def _age(task: Mapping[str, Any], now: float) -> float:
    created: Any = task.get("createdAt")
    if isinstance(created, (int, float)):
        return now - float(created)
    if created is not None and hasattr(created, "timestamp"):
        return now - float(created.timestamp())
    return 0.0  # unknown age: treat as young, never stop on a guess


def decide(
    tasks: Iterable[Mapping[str, Any]], hub: HubServers, *, grace: float, now: float
) -> list[Decision]:
    """What to do with each task; pure, so the rules are tested without AWS or a hub."""
    decisions = []
    for task in tasks:
        arn = str(task.get("taskArn", ""))
        tags = {str(t.get("key")): str(t.get("value", "")) for t in task.get("tags") or []}
        if TAG_USER not in tags:
            decisions.append(Decision(arn, "skip", "no awsspawner:user tag; not ours to judge"))
            continue
        user, server = tags[TAG_USER], tags.get(TAG_SERVER, "")
        owner = f"user {_shown(user)!r}, server {_shown(server)!r}"
        state = hub.active.get((user, server))
        if state:
            decisions.append(Decision(arn, "keep", f"{owner} is {state}"))
            continue
        missing = "server not running" if user in hub.users else "no such user"
        age = _age(task, now)
        if age < grace:
            why = f"{owner}: {missing}; {age:.0f} s old, within the {grace:g} s grace period"
            decisions.append(Decision(arn, "wait", why))
        else:
            decisions.append(Decision(arn, "stop", f"{owner}: {missing}; {age:.0f} s old"))
    return decisions


class HubAPI:
    """The few REST calls the reaper makes, with the service's own token."""

    def __init__(self, session: aiohttp.ClientSession, api_url: str, token: str) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.headers = {
            "Authorization": f"token {token}",
            "Accept": "application/jupyterhub-pagination+json",
        }

    async def servers(self, page_size: int = 200) -> HubServers:
        found = HubServers()
        offset = 0
        while True:
            url = f"{self.api_url}/users?offset={offset}&limit={page_size}"
            async with self.session.get(url, headers=self.headers) as answer:
                if answer.status != 200:
                    raise RuntimeError(
                        f"GET /users answered {answer.status}: the reaper's token needs the "
                        "scopes list:users and read:servers"
                    )
                page = await answer.json()
            for user in page.get("items", []):
                found.add(str(user["name"]), user.get("servers") or {})
            following = (page.get("_pagination") or {}).get("next")
            if not following:
                return found
            offset = int(following["offset"])


@dataclass
class RoundSummary:
    tasks: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def line(self, dry_run: bool) -> str:
        labels = {"keep": "keep", "wait": "wait", "stop": "would stop" if dry_run else "stopped"}
        labels["skip"] = "skip"
        parts = ", ".join(f"{self.counts.get(a, 0)} {label}" for a, label in labels.items())
        failed = f"; {self.failed} stops failed" if self.failed else ""
        return f"reaper round: {self.tasks} tasks of this hub; {parts}{failed}"


async def reap_once(
    gateway: ECSGateway,
    hub: HubAPI,
    *,
    cluster: str,
    started_by: str,
    grace: float,
    dry_run: bool = False,
) -> RoundSummary:
    # ECS first, then the hub: a server that appears in between is then seen as active.
    arns = await gateway.list_tasks(cluster, started_by, desired=("RUNNING",))
    described = await gateway.describe_tasks(cluster, arns, include_tags=True) if arns else None
    servers = await hub.servers()
    tasks = list(described.tasks.values()) if described else []
    summary = RoundSummary(tasks=len(tasks))
    for decision in decide(tasks, servers, grace=grace, now=time.time()):
        summary.counts[decision.action] = summary.counts.get(decision.action, 0) + 1
        if decision.action != "stop":
            log.info("%s %s: %s", decision.action, decision.arn, decision.why)
            continue
        if dry_run:
            log.info("would stop %s: %s", decision.arn, decision.why)
            continue
        try:
            await gateway.stop_task(cluster, decision.arn, f"awsspawner-reaper: {decision.why}")
        except ECSError as exc:
            summary.failed += 1
            log.warning("could not stop %s: %s", decision.arn, exc)
        else:
            log.info("stopped %s: %s", decision.arn, decision.why)
    log.info(summary.line(dry_run))
    return summary


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="awsspawner-reaper",
        description="Stop ECS tasks of this hub that no JupyterHub server owns.",
    )
    parser.add_argument("--cluster", required=True, help="c.AWSSpawner.task_cluster_name")
    parser.add_argument(
        "--hub-id", default="jupyterhub", help="c.AWSSpawner.hub_id (default: jupyterhub)"
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="AWS region (default: $AWS_REGION)",
    )
    parser.add_argument("--interval", type=float, default=300, help="seconds between rounds")
    parser.add_argument(
        "--grace",
        type=float,
        default=900,
        help="stop an ownerless task only once it is this many seconds old; keep it above "
        "c.Spawner.start_timeout so spawns in flight are never touched (default 900)",
    )
    parser.add_argument("--once", action="store_true", help="one round, then exit")
    parser.add_argument("--dry-run", action="store_true", help="say what would be stopped")
    parser.add_argument(
        "--api-url",
        default=os.environ.get("JUPYTERHUB_API_URL"),
        help="the hub's API URL (default: $JUPYTERHUB_API_URL, set for hub-managed services)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if not args.region:
        parser.error("--region (or AWS_REGION) is required")
    if not args.api_url:
        parser.error("--api-url (or JUPYTERHUB_API_URL) is required")
    if not os.environ.get("JUPYTERHUB_API_TOKEN"):
        parser.error("JUPYTERHUB_API_TOKEN is required (the service's token)")
    if args.grace < 0 or args.interval <= 0:
        parser.error("--grace must be 0 or more, --interval more than 0")
    return args


async def run(args: argparse.Namespace) -> int:
    auth = AWSSpawnerAuthentication()

    async def client() -> Any:
        return await shared_client("ecs", auth=auth, region=args.region)

    gateway = ECSGateway(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    failures = 0
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            hub = HubAPI(session, args.api_url, token)
            while not stop.is_set():
                try:
                    await reap_once(
                        gateway,
                        hub,
                        cluster=args.cluster,
                        started_by=started_by_for_hub(args.hub_id),
                        grace=args.grace,
                        dry_run=args.dry_run,
                    )
                except (ECSError, RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                    failures += 1
                    # Nothing is stopped in a round that could not see both sides.
                    log.warning("reaper round skipped: %s", exc)
                if args.once:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=args.interval)
    finally:
        await close_shared_clients()
    return 1 if args.once and failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="[%(levelname)1.1s %(asctime)s %(name)s] %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
