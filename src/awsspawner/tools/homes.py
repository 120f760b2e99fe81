"""``awsspawner homes``: users' persistent homes, seen and handled from outside the hub.

* ``prepare``: what a user's first spawn does for their home (the EFS access point, and the
  task definition revision that mounts it), done ahead for a class that logs in at once. ECS
  registers about one revision a second, so 300 new users starting together otherwise wait up
  to five minutes; prepared, each first spawn finds its revision and registers nothing.
* ``list``: every home this hub has made: user, where the home is, the access point, the
  revisions that mount it.
* ``forget``: a user's access points and revisions, removed (the files never: they stay on
  the file system or the node until an administrator deletes them).

Everything is computed by the spawner's own code from ``jupyterhub_config.py``
(:class:`~awsspawner.tools.hub_config.HubConfig`), so the names, tokens and keys are exactly
those a spawn uses: a prepared user's spawn finds what ``prepare`` made.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..aws.paging import all_pages
from ..errors import AWSError, aws_call
from ..launch.homes import HOME_VOLUME_NAME
from ..launch.spawn_settings import SpawnSettings
from ..launch.tags import (
    TAG_HUB,
    TAG_USER,
    escape_tag_value,
    started_by_for_hub,
    task_tags,
    unescape_tag_value,
)
from ..launch.task_definitions import is_home_family
from ..profiles.menu import default_profile
from .hub_config import BASE, STAND_IN, CommandError, HubConfig

__all__ = ["Home", "ProgressBar", "forget_user", "list_homes", "prepare_home", "prepare_homes"]


@dataclass
class Home:
    """One user's home as AWS holds it."""

    user: str  # the user's name (the tag, unescaped where it can be)
    kind: str  # "efs" or "node"
    path: str  # the directory (on the file system, or on a node)
    access_point: str = ""  # fsap-... (EFS)
    file_system: str = ""
    revisions: list[str] = field(default_factory=list)  # ACTIVE revisions that mount it

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "kind": self.kind,
            "path": self.path,
            "access_point": self.access_point,
            "file_system": self.file_system,
            "revisions": list(self.revisions),
        }


def _user_of(tag: str) -> str:
    try:
        return unescape_tag_value(tag)
    except ValueError:  # a name cut to a hash: the tag is all there is
        return tag


# ----------------------------------------------------------------------------- targets


async def targets(config: HubConfig, profiles: Sequence[str], *, all_profiles: bool) -> list[str]:
    """The profiles a command works on: those named; else every one with ``all_profiles``;
    else the profile a user gets without choosing (BASE without profiles)."""
    if profiles:
        return list(dict.fromkeys(profiles))
    menu = await config.profile_menu()
    if not menu:
        return [BASE]
    return [p.slug for p in menu] if all_profiles else [default_profile(menu).slug]


async def _settings_with_homes(
    config: HubConfig, profiles: Sequence[str], *, required: bool
) -> list[tuple[str, SpawnSettings]]:
    found = []
    spawner = config.spawner(STAND_IN)
    for profile in profiles:
        settings = await config.settings(spawner, profile)
        if settings.efs_file_system_id or settings.node_home_directory:
            found.append((profile, settings))
        elif required:
            what = f"profile {profile!r}" if profile else "the configuration"
            raise CommandError(
                f"{what} has no persistent homes (c.AWSSpawner.efs_file_system_id and "
                "c.AWSSpawner.node_home_directory are unset); name profiles with homes "
                "(--profile)"
            )
    return found


# ----------------------------------------------------------------------------- prepare


class ProgressBar:
    """``prepare``'s progress on a terminal (one updating line), or a line per tenth."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = self.failed = 0
        self.stream = stream or sys.stderr
        self.began = time.monotonic()
        self.tty = self.stream.isatty()
        self._last_tenth = -1

    def advance(self, failed: bool = False) -> None:
        self.done += 1
        self.failed += failed
        tenth = self.done * 10 // max(self.total, 1)
        if self.tty or tenth != self._last_tenth or self.done == self.total:
            self._last_tenth = tenth
            self._show()

    def line(self) -> str:
        width = 30
        filled = width * self.done // max(self.total, 1)
        elapsed = time.monotonic() - self.began
        left = ""
        if 0 < self.done < self.total:
            left = f", about {elapsed / self.done * (self.total - self.done):.0f} s left"
        failed = f", {self.failed} failed" if self.failed else ""
        bar = "#" * filled + "-" * (width - filled)
        return f"[{bar}] {self.done}/{self.total} homes{failed}{left}"

    def _show(self) -> None:
        if self.tty:
            end = "\n" if self.done == self.total else ""
            self.stream.write("\r" + self.line() + end)
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


async def prepare_home(spawner: Any, settings: SpawnSettings) -> str:
    """One user's home made ready as their first spawn would make it: the access point (EFS)
    and the revision that mounts it. Returns the revision's ARN."""
    home = await spawner.home_volume(settings)
    revision = await spawner.home_revision(settings, spawner.ecs_gateway(settings), home)
    return str(revision.arn)


@dataclass
class PrepareResult:
    prepared: list[tuple[str, str, str]] = field(default_factory=list)  # user, profile, ARN
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # user, profile, why


async def prepare_homes(
    config: HubConfig,
    users: Iterable[str],
    profiles: Sequence[str],
    *,
    workers: int = 8,
    progress: ProgressBar | None = None,
) -> PrepareResult:
    """Create each user's access point and register their revision, for each profile, as
    their first spawn would (at ECS's registration rate, shared by ``workers``)."""
    chosen = await _settings_with_homes(config, profiles, required=True)
    jobs: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for user in dict.fromkeys(users):
        for profile, _ in chosen:
            jobs.put_nowait((user, profile))
    result = PrepareResult()

    async def one(user: str, profile: str) -> None:
        spawner = config.spawner(user)
        settings = await config.settings(spawner, profile)
        result.prepared.append((user, profile, await prepare_home(spawner, settings)))

    async def worker() -> None:
        while not jobs.empty():
            user, profile = jobs.get_nowait()
            try:
                await one(user, profile)
            except (AWSError, CommandError) as exc:
                result.failed.append((user, profile, str(exc)))
                if progress is not None:
                    progress.advance(failed=True)
                continue
            if progress is not None:
                progress.advance()

    await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    return result


# -------------------------------------------------------------------------------- list


def _translated(
    operation: str, method: Callable[..., Awaitable[dict[str, Any]]]
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A client method whose errors become awsspawner's (:func:`aws_call`)."""

    async def call(**params: Any) -> dict[str, Any]:
        return await aws_call(operation, method(**params))

    return call


def _base_family(settings: SpawnSettings) -> str:
    if settings.task_definition_arn:
        return settings.task_definition_arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
    return settings.task_definition_family


async def list_homes(config: HubConfig, profiles: Sequence[str]) -> list[Home]:
    """Every home this hub (its ``hub_id``) made, for the file systems and task definition
    families of ``profiles``."""
    chosen = await _settings_with_homes(config, profiles, required=False)
    if not chosen:
        return []
    spawner = config.spawner(STAND_IN)
    hub_tag = escape_tag_value(chosen[0][1].hub_id)
    homes: dict[tuple[str, str], Home] = {}  # (user tag, access point or node path)
    by_access_point: dict[str, Home] = {}
    for file_system, region in {
        (s.efs_file_system_id.rsplit("/", 1)[-1], s.aws_region)
        for _, s in chosen
        if s.efs_file_system_id
    }:
        efs = await spawner.aws_client("efs", region)
        points = await all_pages(
            _translated("DescribeAccessPoints", efs.describe_access_points),
            "AccessPoints",
            next_key="NextToken",
            FileSystemId=file_system,
        )
        for point in points:
            tags = {t["Key"]: t["Value"] for t in point.get("Tags") or []}
            if tags.get(TAG_HUB) != hub_tag or TAG_USER not in tags:
                continue
            home = Home(
                user=_user_of(tags[TAG_USER]),
                kind="efs",
                path=str((point.get("RootDirectory") or {}).get("Path") or "/"),
                access_point=str(point["AccessPointId"]),
                file_system=file_system,
            )
            homes[(tags[TAG_USER], home.access_point)] = home
            by_access_point[home.access_point] = home
    for family, region in {(_base_family(s), s.aws_region) for _, s in chosen}:
        ecs = await spawner.aws_client("ecs", region)
        arns = await all_pages(
            _translated("ListTaskDefinitions", ecs.list_task_definitions),
            "taskDefinitionArns",
            status="ACTIVE",
        )
        families: dict[str, list[str]] = {}
        for arn in arns:
            name = arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
            if name.startswith(f"{family[:200]}") and is_home_family(name):
                families.setdefault(name, []).append(arn)
        for revisions in families.values():
            revisions.sort(key=lambda arn: int(arn.rsplit(":", 1)[-1]))
            answer = await aws_call(
                "DescribeTaskDefinition",
                ecs.describe_task_definition(taskDefinition=revisions[-1], include=["TAGS"]),
            )
            tags = task_tags({"tags": answer.get("tags")})
            if tags.get(TAG_HUB) != hub_tag or TAG_USER not in tags:
                continue
            volume: dict[str, Any] = next(
                (
                    v
                    for v in answer["taskDefinition"].get("volumes") or []
                    if v.get("name") == HOME_VOLUME_NAME
                ),
                {},
            )
            efs_config = volume.get("efsVolumeConfiguration") or {}
            authorization = efs_config.get("authorizationConfig") or {}
            access_point = str(authorization.get("accessPointId") or "")
            if access_point:
                home = by_access_point.get(access_point) or homes.setdefault(
                    (tags[TAG_USER], access_point),
                    Home(
                        user=_user_of(tags[TAG_USER]),
                        kind="efs",
                        path="(access point gone)",
                        access_point=access_point,
                        file_system=str(efs_config.get("fileSystemId") or ""),
                    ),
                )
            else:
                path = str((volume.get("host") or {}).get("sourcePath") or "")
                user = _user_of(tags[TAG_USER])
                home = homes.setdefault(
                    (tags[TAG_USER], path), Home(user=user, kind="node", path=path)
                )
            home.revisions.extend(revisions)
    return sorted(homes.values(), key=lambda h: (h.user, h.kind, h.path))


def table(homes: Sequence[Home]) -> str:
    """``list``'s output: one line per home."""
    rows = [("USER", "KIND", "HOME", "ACCESS POINT", "REVISIONS")]
    for home in homes:
        newest = home.revisions[-1].rsplit("/", 1)[-1] if home.revisions else "-"
        more = f" (+{len(home.revisions) - 1})" if len(home.revisions) > 1 else ""
        rows.append((home.user, home.kind, home.path, home.access_point or "-", newest + more))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


# ------------------------------------------------------------------------------ forget


async def running_servers(config: HubConfig, profiles: Sequence[str], user: str) -> list[str]:
    """ARNs of ``user``'s tasks of this hub that are not stopped."""
    chosen = await _settings_with_homes(config, profiles, required=False)
    spawner = config.spawner(STAND_IN)
    user_tag = escape_tag_value(user)
    found: list[str] = []
    for cluster, settings in {s.task_cluster_name: s for _, s in chosen}.items():
        gateway = spawner.ecs_gateway(settings)
        arns = await gateway.list_tasks(cluster, started_by_for_hub(settings.hub_id), ("RUNNING",))
        if not arns:
            continue
        described = await gateway.describe_tasks(cluster, arns, include_tags=True)
        for task in described.tasks.values():
            if task_tags(task).get(TAG_USER) == user_tag and task.get("lastStatus") != "STOPPED":
                found.append(str(task["taskArn"]))
    return found


async def forget_user(config: HubConfig, homes: Sequence[Home], region: str) -> list[str]:
    """Delete the access points and deregister the revisions of ``homes``; what was done."""
    spawner = config.spawner(STAND_IN)
    done: list[str] = []
    ecs = await spawner.aws_client("ecs", region)
    efs = await spawner.aws_client("efs", region)
    for home in homes:
        for arn in home.revisions:
            await aws_call(
                "DeregisterTaskDefinition", ecs.deregister_task_definition(taskDefinition=arn)
            )
            done.append(f"deregistered {arn}")
        if home.access_point:
            await aws_call(
                "DeleteAccessPoint", efs.delete_access_point(AccessPointId=home.access_point)
            )
            done.append(f"deleted access point {home.access_point} ({home.path})")
    return done
