"""The orphan reaper: stops ECS tasks of this hub that no JupyterHub server owns.

A task can outlive its server when the hub dies between RunTask and recording the server,
when a StopTask never arrived, or when a user is deleted while their server runs. Such a task
costs money every hour and nothing in JupyterHub will ever stop it. The reaper runs beside the
hub, like jupyterhub-idle-culler, as a hub-managed service::

    python -m awsspawner.reaper --cluster notebooks        (or: awsspawner-reaper ...)

Stopping a live server is far worse than leaving an orphan for another round, so every step
refuses to guess. Each round it

1. checks that its token holds the unfiltered scopes ``list:users`` and ``read:servers``
   (``GET /user``); without them the hub answers with users that seem to have no servers;
2. lists this hub's tasks: ListTasks by the hub's ``startedBy`` (``jupyterhub-<hub_id>``),
   then DescribeTasks with tags, 100 per call; a task whose ``awsspawner:hub`` tag is not
   this hub's is never touched;
3. reads every user and their servers from the hub's REST API, and gives up the round when a
   user comes back without ``servers`` or the number read differs from the hub's total (a
   user created or deleted while the pages were read shifts the others between pages);
4. decides with :func:`awsspawner.tools.orphans.decide`: keep tasks whose tags name a server that
   is ready or pending (and was created after that server's spawn began), and tasks that can
   only be a renamed user's (the REST API shows no user ids: names and times are what it can
   match); wait for tasks younger than ``--grace`` (longer than the spawner's
   ``start_timeout``, so a spawn in flight is never touched); stop the rest;
5. asks the hub again about each task it is about to stop (``GET /users/{name}``) and stops
   it only if that user is still gone or the server still not running;
6. with ``--token-bucket`` (``api_token_source = 's3'``), deletes the token files of servers
   the hub does not have as ready or pending (:mod:`awsspawner.tools.token_sweep`);
7. reports the persistent homes (their revisions) of users the hub no longer has, and deletes
   nothing of them (:mod:`awsspawner.tools.home_report`; ``--no-home-report`` to skip).

One log line per decision and a summary line per round; ``--dry-run`` only says what it would
stop.
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from ..aws.auth import AWSSpawnerAuthentication
from ..aws.clients import close_shared_clients, shared_client
from ..aws.gateway import ECSGateway
from ..errors import AWSError
from ..launch.tags import escape_tag_value, started_by_for_hub, unescape_tag_value
from .home_report import HomeReport
from .orphans import Decision, HubServers, decide
from .token_sweep import TokenSweep

__all__ = [
    "REQUIRED_SCOPES",
    "Decision",
    "HubAPI",
    "HubServers",
    "HubViewError",
    "ScopeError",
    "confirm_stop",
    "decide",
    "main",
    "reap_once",
]

log = logging.getLogger("awsspawner.reaper")  # the name its users know from the logs

#: What the reaper's token must hold, unfiltered: without read:servers the hub answers 200 with
#: users that have no ``servers`` key, which would read as "nobody runs anything".
REQUIRED_SCOPES = ("list:users", "read:servers")


class HubViewError(RuntimeError):
    """The hub's answer cannot be trusted as a complete picture; the round stops nothing."""


class ScopeError(HubViewError):
    """The reaper's token lacks a scope it needs: no round can run until an admin grants it."""


class HubAPI:
    """The few REST calls the reaper makes, with the service's own token."""

    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, *, page_size: int = 200
    ) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        self.headers = {
            "Authorization": f"token {token}",
            "Accept": "application/jupyterhub-pagination+json",
        }

    async def _get(self, path: str, *, missing_ok: bool = False) -> Any:
        async with self.session.get(self.api_url + path, headers=self.headers) as answer:
            if answer.status == 404 and missing_ok:
                return None
            if answer.status != 200:
                where = path.split("?", 1)[0]
                raise HubViewError(f"GET {where} answered {answer.status}")
            return await answer.json()

    async def check_scopes(self) -> None:
        """ScopeError unless the token holds every scope in REQUIRED_SCOPES, unfiltered."""
        try:
            identity = await self._get("/user")
        except HubViewError as exc:
            raise HubViewError(f"{exc}: the hub does not accept the reaper's token") from None
        held = set(identity.get("scopes") or [])
        lacking = [scope for scope in REQUIRED_SCOPES if scope not in held]
        if lacking:
            raise ScopeError(
                f"the reaper's token lacks the scopes {', '.join(lacking)} (filtered ones such "
                "as read:servers!user=... do not count); give its service a role with "
                f"{' and '.join(REQUIRED_SCOPES)} in c.JupyterHub.load_roles"
            )

    async def servers(self) -> HubServers:
        found = HubServers()
        offset = seen = 0
        totals: set[int] = set()
        while True:
            page = await self._get(f"/users?offset={offset}&limit={self.page_size}")
            for user in page.get("items", []):
                _check_servers_present(user)
                found.add(str(user["name"]), user["servers"])
                seen += 1
            pagination = page.get("_pagination") or {}
            totals.add(int(pagination.get("total", -1)))
            following = pagination.get("next")
            if not following:
                break
            offset = int(following["offset"])
        if totals != {seen}:
            raise HubViewError(
                f"the hub's user list changed while it was read ({seen} users read, the hub "
                f"counted {', '.join(map(str, sorted(totals)))}); nothing is stopped this round"
            )
        return found

    async def user_names(self) -> list[str]:
        """Every user's name (needs list:users only)."""
        names: list[str] = []
        offset = 0
        while True:
            page = await self._get(f"/users?offset={offset}&limit={self.page_size}")
            names.extend(str(user["name"]) for user in page.get("items", []))
            following = (page.get("_pagination") or {}).get("next")
            if not following:
                return names
            offset = int(following["offset"])

    async def user_servers(self, name: str) -> Mapping[str, Mapping[str, Any]] | None:
        """One user's servers now, or None when the hub has no such user."""
        user = await self._get(f"/users/{quote(name, safe='')}", missing_ok=True)
        if user is None:
            return None
        _check_servers_present(user)
        return dict(user["servers"])


def _check_servers_present(user: Mapping[str, Any]) -> None:
    if not isinstance(user.get("servers"), Mapping):
        raise HubViewError(
            f"the hub answered user {str(user.get('name'))[:60]!r} without its servers: the "
            "token cannot read servers (read:servers); nothing is stopped this round"
        )


async def confirm_stop(
    hub: HubAPI, servers: HubServers, decision: Decision, fresh: Callable[[], Awaitable[HubServers]]
) -> Decision:
    """Ask the hub about this one server again, just before stopping its task.

    The round's picture may already be old: a user may have been created, renamed or have
    started the server since. "stop" only if the hub still says so, else "keep". ``fresh``
    reads the whole user list again: the only way to look up a name cut to a hash."""
    name = servers.users.get(decision.user)
    if name is None:
        try:
            name = unescape_tag_value(decision.user)
        except ValueError:
            name = None
    if name is None:
        view = await fresh()
    else:
        now = await hub.user_servers(name)
        if now is None:
            return decision
        view = HubServers()
        view.add(name, now)
    # The tag values are the escaped names, as HubServers keys them.
    again = view.active.get((decision.user, decision.server))
    if again is not None and again.could_own(decision.created):
        why = f"user {again.user!r}: the server is {again.state} now"
        return Decision(decision.arn, "keep", why)
    return decision


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
    hub_id: str,
    grace: float,
    dry_run: bool = False,
    token_sweep: TokenSweep | None = None,
    home_report: HomeReport | None = None,
) -> RoundSummary:
    await hub.check_scopes()
    # ECS first, then the hub: a server that appears in between is then seen as active.
    started_by = started_by_for_hub(hub_id)
    arns = await gateway.list_tasks(cluster, started_by, desired=("RUNNING",))
    described = await gateway.describe_tasks(cluster, arns, include_tags=True) if arns else None
    servers = await hub.servers()
    tasks = list(described.tasks.values()) if described else []
    summary = RoundSummary(tasks=len(tasks))
    hub_tag = escape_tag_value(hub_id)
    refreshed: list[HubServers] = []

    async def fresh() -> HubServers:
        if not refreshed:
            refreshed.append(await hub.servers())
        return refreshed[0]

    for decision in decide(tasks, servers, hub_tag=hub_tag, grace=grace, now=time.time()):
        if decision.action == "stop":
            decision = await confirm_stop(hub, servers, decision, fresh)
        summary.counts[decision.action] = summary.counts.get(decision.action, 0) + 1
        if decision.action != "stop":
            log.info("%s %s: %s", decision.action, decision.arn, decision.why)
            continue
        if dry_run:
            log.info("would stop %s: %s", decision.arn, decision.why)
            continue
        try:
            await gateway.stop_task(cluster, decision.arn, f"awsspawner-reaper: {decision.why}")
        except AWSError as exc:
            summary.failed += 1
            log.warning("could not stop %s: %s", decision.arn, exc)
        else:
            log.info("stopped %s: %s", decision.arn, decision.why)
    log.info(summary.line(dry_run))
    if token_sweep is not None:
        await token_sweep.run(servers, grace=grace, now=time.time(), dry_run=dry_run)
    if home_report is not None:
        try:
            await home_report.run(servers)
        except AWSError as exc:  # a report: never a reason to fail the round
            log.warning("home report skipped: %s", exc)
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
    parser.add_argument(
        "--token-bucket",
        default="",
        help="c.AWSSpawner.api_token_bucket: also delete token files no server owns "
        "(api_token_source = 's3')",
    )
    parser.add_argument(
        "--token-prefix",
        default="jupyterhub-tokens/",
        help="c.AWSSpawner.api_token_key_prefix (default: jupyterhub-tokens/)",
    )
    parser.add_argument(
        "--no-home-report",
        action="store_true",
        help="do not report the persistent homes of users the hub no longer has (the report "
        "needs ecs:ListTaskDefinitions and ecs:DescribeTaskDefinition)",
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
    token_sweep = None
    if args.token_bucket:
        s3 = await shared_client("s3", auth=auth, region=args.region)
        token_sweep = TokenSweep(s3, args.token_bucket, args.token_prefix, args.hub_id)
    home_report = None if args.no_home_report else HomeReport(client, args.hub_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    status = 0
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            hub = HubAPI(session, args.api_url, token)
            while not stop.is_set():
                try:
                    await reap_once(
                        gateway,
                        hub,
                        cluster=args.cluster,
                        hub_id=args.hub_id,
                        grace=args.grace,
                        dry_run=args.dry_run,
                        token_sweep=token_sweep,
                        home_report=home_report,
                    )
                except ScopeError as exc:
                    # Refuse to run. A managed service that exits is restarted by the hub at
                    # once, so in a loop the reaper stays up, idle, and says why each round.
                    status = 2
                    log.error("reaper refuses to run: %s", exc)
                except (AWSError, HubViewError, aiohttp.ClientError, TimeoutError) as exc:
                    status = status or 1
                    # Nothing is stopped in a round that could not see both sides.
                    log.warning("reaper round skipped: %s", exc)
                if args.once:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=args.interval)
    finally:
        await close_shared_clients()
    return status if args.once else 0


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
