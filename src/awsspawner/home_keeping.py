"""A spawner's part in users' persistent homes: which home a spawn mounts, which node holds a
node home, and retiring the revisions a user no longer runs.

:class:`HomeKeeping` is a layer of :class:`~awsspawner.AWSSpawner`. The pure rules (paths,
volumes, revisions) are in :mod:`awsspawner.launch.homes` and
:mod:`awsspawner.launch.task_definitions`.

*Node pins.* A node home (``node_home_directory``) is a directory on one node's disk. The first
spawn goes wherever ECS places it, and the node's instance id is kept in the server's state
(``home_nodes``, by cluster and home path, surviving stops); later spawns first check that
the node is still in the cluster (one ListContainerInstances), then carry a placement
constraint ``ec2InstanceId == <id>``. A named server without a pin of its own borrows one from
a sibling sharing the home path, and records the node it ran on. Profiles that run on
different nodes need different paths (a fixed directory name per profile in
``node_home_directory``): one path is pinned to one node. When
the pinned node cannot take the task, the spawn fails and says so, unless the node has left
the cluster: then its directory is out of reach for good, the pin is dropped and the server
starts on another node (with that node's directory, usually a new one).

*Revision hygiene.* Each server remembers, per profile, the home revision it last ran
(``home_revisions``). When a spawn of the same profile succeeds on a different one (the admin
changed the base revision, the image, or a home setting), the old one is superseded and is
deregistered, unless another server of the user still names it. Profiles a user switches
between keep their own revisions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from .errors import AWSError
from .launch.homes import AnyHomeVolume, HomeVolume, NodeHomeVolume, home_directory
from .launch.spawn_settings import SpawnSettings
from .launch.task_definitions import TaskDefinitionInfo, is_home_family
from .profiles.options import ProfileChoice

__all__ = ["HomeKeeping", "node_pin"]

#: Deregistrations running after a spawn (kept so they are not garbage-collected mid-call).
_RETIRING: set[asyncio.Future[None]] = set()


def _json_map(text: Any) -> dict[str, str]:
    """A state value holding a JSON object of strings; {} for anything else."""
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _pin_key(cluster: str, path: str) -> str:
    """A pin's key in ``home_nodes``: the cluster's name (no ``/`` in it) and the path."""
    return f"{cluster}{path}"


def node_pin(instance_id: str) -> dict[str, str]:
    """The placement constraint that keeps a task on the node ``instance_id``."""
    return {"type": "memberOf", "expression": f"ec2InstanceId == {instance_id}"}


class HomeKeeping(ProfileChoice):
    """Homes, node pins and home revisions of one spawner (see the module docstring)."""

    async def home_volume(self, settings: SpawnSettings) -> AnyHomeVolume | None:
        """The home this spawn mounts, or None. With EFS, creates the user's access point at
        their first spawn (or finds it: one CreateAccessPoint, idempotent)."""
        node_template = settings.node_home_template
        if node_template is not None:
            return NodeHomeVolume(
                path=node_template.render(
                    hub_id=settings.hub_id, username=self.user.name, servername=self.name or ""
                ),
                mount_path=settings.home_mount_path,
                uid=settings.efs_posix_uid,
                gid=settings.efs_posix_gid,
                permissions=settings.efs_home_permissions,
            )
        template = settings.home_template
        if template is None or not settings.efs_file_system_id:
            return None
        user_id = getattr(self.user, "id", None)
        home = home_directory(
            template,
            file_system_id=settings.efs_file_system_id,
            uid=settings.efs_posix_uid,
            gid=settings.efs_posix_gid,
            permissions=settings.efs_home_permissions,
            hub_id=settings.hub_id,
            username=self.user.name,
            servername=self.name or "",
            user_id="" if user_id is None else str(user_id),
        )
        access_point = await self.access_points(settings.aws_region).access_point_for(home)
        return HomeVolume(
            file_system_id=home.file_system_id,
            access_point_id=access_point,
            mount_path=settings.home_mount_path,
            transit_encryption=settings.efs_transit_encryption,
            iam_authorization=settings.efs_iam_authorization,
        )

    def access_points(self, region: str | None = None) -> Any:
        """The hub-wide access point store (defined by AWSSpawner)."""
        raise NotImplementedError

    # ---------------------------------------------------------------------- node pins

    def _sibling_states(self) -> list[Mapping[str, Any]]:
        """The saved states of this user's other servers (named servers)."""
        servers = getattr(self.user, "orm_spawners", None)
        if not isinstance(servers, Mapping):
            return []
        mine = self.name or ""
        return [
            dict(getattr(orm, "state", None) or {})
            for name, orm in servers.items()
            if (name or "") != mine
        ]

    def home_node_for(self, home: AnyHomeVolume | None, cluster: str) -> str:
        """The node of ``cluster`` that holds ``home`` (a node home), as this server or a
        sibling sharing the home recorded it; "" when none is known yet."""
        if not isinstance(home, NodeHomeVolume):
            return ""
        key = _pin_key(cluster, home.path)
        for state in [{"home_nodes": self.home_nodes}, *self._sibling_states()]:
            node = _json_map(state.get("home_nodes")).get(key)
            if node:
                return node
        return ""

    def pinned(self, settings: SpawnSettings, node: str) -> SpawnSettings:
        """``settings`` with the placement constraint to ``node`` added."""
        if not node:
            return settings
        constraints = (*settings.placement_constraints, node_pin(node))
        return dataclasses.replace(settings, placement_constraints=constraints)

    def unpinned(self, settings: SpawnSettings, node: str) -> SpawnSettings:
        """``settings`` without the constraint :meth:`pinned` added."""
        kept = tuple(c for c in settings.placement_constraints if dict(c) != node_pin(node))
        return dataclasses.replace(settings, placement_constraints=kept)

    async def record_home_node(
        self, home: AnyHomeVolume | None, task: Mapping[str, Any], cluster: str, gateway: Any
    ) -> None:
        """After a node home's start: remember which node holds it (in this server's own
        state, also when the pin was a sibling's)."""
        if not isinstance(home, NodeHomeVolume):
            return
        instance_arn = str(task.get("containerInstanceArn") or "")
        if not instance_arn:
            return
        try:
            found = await gateway.describe_container_instances(cluster, [instance_arn])
        except AWSError as exc:  # bookkeeping: the server runs; the next spawn tries again
            self.log.warning("Cannot tell which node holds the home of %s: %s", self._log_name, exc)
            return
        node = str((found.get(instance_arn) or {}).get("ec2InstanceId") or "")
        if not node:
            self.log.warning("Cannot tell which node holds the home of %s", self._log_name)
            return
        if _json_map(self.home_nodes).get(_pin_key(cluster, home.path)) == node:
            return
        self._set_home_node(cluster, home.path, node)
        self.log.info("The home of %s is %s on node %s", self._log_name, home.path, node)

    def forget_home_node(self, home: NodeHomeVolume, cluster: str) -> None:
        self._set_home_node(cluster, home.path, "")

    def _set_home_node(self, cluster: str, path: str, node: str) -> None:
        nodes = _json_map(self.home_nodes)
        if node:
            nodes[_pin_key(cluster, path)] = node
        else:
            nodes.pop(_pin_key(cluster, path), None)
        self.home_nodes = json.dumps(nodes, sort_keys=True) if nodes else ""
        self.commit_state()

    # ------------------------------------------------------------------ revision hygiene

    def _revisions_in_use_elsewhere(self) -> set[str]:
        used: set[str] = set()
        for state in self._sibling_states():
            used.add(str(state.get("task_definition") or ""))
            used.update(_json_map(state.get("home_revisions")).values())
        return used

    def retire_superseded_revision(
        self, profile: str, taskdef: TaskDefinitionInfo, gateway: Any
    ) -> None:
        """After a successful spawn: remember the home revision ``profile`` ran, and
        deregister the one it ran before if this one supersedes it (in the background: the
        user's server is already up)."""
        if not is_home_family(taskdef.family):
            return
        last = _json_map(self.home_revisions)
        previous = last.get(profile, "")
        last[profile] = taskdef.arn
        self.home_revisions = json.dumps(last, sort_keys=True)
        self.commit_state()
        if not previous or previous == taskdef.arn:
            return
        family = previous.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        if not is_home_family(family) or previous in self._revisions_in_use_elsewhere():
            return
        if previous in last.values():
            return  # another profile of this server runs it too

        async def retire() -> None:
            try:
                await gateway.deregister_task_definition(previous)
            except AWSError as exc:
                self.log.warning("Could not deregister superseded %s: %s", previous, exc)
            else:
                self.log.info(
                    "Deregistered %s of %s: superseded by %s",
                    previous,
                    self._log_name,
                    taskdef.arn,
                )

        retiring = asyncio.ensure_future(retire())
        _RETIRING.add(retiring)
        retiring.add_done_callback(_RETIRING.discard)
