"""Pure: where a user's persistent home lives, on EFS or on a node, and how a task mounts it.

A home is a directory on the file system (``efs_home_directory``, by default
``/jupyterhub/{hub_id}/{username}``) that an EFS access point exposes as its root, as one
POSIX user. Each user's task runs a task definition revision that mounts that access point at
``home_mount_path`` (see :mod:`.task_definitions`).

Names become directory names by :func:`escape_path_component`: ASCII letters, digits and
``_ - . @`` are kept (a ``.`` not at the start), every other character is written ``%XX`` per
UTF-8 byte (percent-encoding), ``%`` itself included. The mapping is one-to-one, a name can
never contain ``/`` or start with ``.``, so no user can reach another's directory or leave the
prefix; look-alike names (``Alice``, ``alice``, ``alice`` with a Cyrillic U+0430) stay
apart. EFS allows 100 characters per access point path: a name longer than its share is cut
and ends in ``%%`` and 12 hex digits of its SHA-256 (in an escaped name ``%`` is always
followed by two hex digits, so a cut name cannot equal an uncut one).

The access point is created with a ``ClientToken`` derived from everything that defines it
(file system, path, POSIX user, owner and mode, :data:`GENERATION`): concurrent first spawns,
two hubs, or a hub restarted between creating it and starting the task, all get the same
access point back (EFS answers ``AccessPointAlreadyExists`` with its id).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from .tags import TAG_HUB, TAG_USER, TAG_USER_ID, escape_tag_value

__all__ = [
    "DEFAULT_SERVER_COMPONENT",
    "GENERATION",
    "HOME_VOLUME_NAME",
    "MAX_PATH",
    "AnyHomeVolume",
    "HomeDirectory",
    "HomeTemplate",
    "HomeVolume",
    "NodeHomeVolume",
    "escape_path_component",
    "home_directory",
]

#: EFS's limits on an access point's root directory path (botocore's ``Path`` shape).
MAX_PATH = 100
MAX_COMPONENTS = 4
#: Characters EFS refuses in a path component (and ``/``, which separates them).
_EFS_FORBIDDEN = set("$#<>;`|&?{}^*\n")
_EFS_PATH = re.compile(r"^(\/|(\/(?!\.)+[^$#<>;`|&?{}^*/\n]+){1,4})$")

_KEPT = set(string.ascii_letters + string.digits + "_-.@")
_CUT_MARK = "%%"
_DIGEST_CHARS = 12
#: A name's share of the path must leave room for a cut name: a few characters, the mark
#: and the digest.
MIN_SHARE = 8 + len(_CUT_MARK) + _DIGEST_CHARS

#: What ``{servername}`` becomes for a user's default server (whose name is empty). ``~`` is
#: always escaped in a name (``%7E``), so no named server can be called this.
DEFAULT_SERVER_COMPONENT = "~default"

#: Part of every access point's ClientToken. Raise it only to make every hub create new
#: access points (the old ones stay, with their files).
GENERATION = 1

#: The name of the volume awsspawner adds to a user's revision.
HOME_VOLUME_NAME = "awsspawner-home"

#: A node home's path: Linux allows 4096; a few levels of short names are plenty.
NODE_MAX_PATH = 1024
NODE_MAX_COMPONENTS = 16
#: ``:`` separates a Docker bind's source from its target; the rest as for EFS.
_NODE_FORBIDDEN = _EFS_FORBIDDEN | {":", "\0", "\\"}

#: The node's own directories: no node home may be made inside the first, nor directly in the
#: second (under ``/var/{username}`` a user called ``lib`` would get the node's ``/var/lib``).
_SYSTEM_ROOTS = frozenset(
    {"etc", "usr", "bin", "sbin", "lib", "lib32", "lib64", "boot", "dev", "proc", "sys", "run",
     "root", "snap", "tmp"}
)  # fmt: skip
_SYSTEM_DIRECTORIES = frozenset(
    {"/var/lib", "/var/log", "/var/run", "/var/cache", "/var/spool", "/var/mail",
     "/var/backups", "/var/opt", "/var/local", "/var/" + "tmp"}
)  # fmt: skip

#: The container of a node home's revision that gives a new home to its owner.
HOME_OWNER_CONTAINER = "awsspawner-home-owner"
#: Where that container sees the home (it works on its working directory: see NodeHomeVolume).
HOME_OWNER_MOUNT = "/awsspawner-home"

_PLACEHOLDERS = ("hub_id", "username", "servername")


def escape_path_component(name: str) -> str:
    """``name`` as one directory name EFS accepts; one-to-one (see the module docstring)."""
    out = []
    for index, char in enumerate(name):
        if char in _KEPT and not (char == "." and index == 0):
            out.append(char)
        else:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
    return "".join(out)


def _fit(name: str, share: int) -> str:
    escaped = escape_path_component(name)
    if len(escaped) <= share:
        return escaped
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    head = escaped[: share - len(_CUT_MARK) - _DIGEST_CHARS]
    # Never end inside a %XX escape: drop a partial one.
    percent = head.rfind("%")
    if percent != -1 and percent > len(head) - 3:
        head = head[:percent]
    return f"{head}{_CUT_MARK}{digest}"


@dataclass(frozen=True)
class HomeTemplate:
    """A checked ``efs_home_directory`` template: components, each literal or one name."""

    template: str
    components: tuple[tuple[str, bool], ...]  # (text, is_placeholder)
    share: int

    #: The longest path this template may render to.
    max_path: int = MAX_PATH

    @classmethod
    def parse(cls, template: str, key: str = "efs_home_directory") -> HomeTemplate:
        """Check ``template`` as EFS and our isolation need it; ConfigurationError if not."""
        return cls._parse(template, key, MAX_PATH, MAX_COMPONENTS, _EFS_FORBIDDEN, "EFS")

    @classmethod
    def parse_node(cls, template: str, key: str = "node_home_directory") -> HomeTemplate:
        """Check a node home template (a directory on each node's disk). Its names must live
        in a directory of their own: under ``/var/{username}`` a user called ``lib`` would
        get the node's ``/var/lib``."""
        parsed = cls._parse(template, key, NODE_MAX_PATH, NODE_MAX_COMPONENTS, _NODE_FORBIDDEN, "")
        fixed = []
        for text, placeholder in parsed.components:
            if placeholder:
                break
            fixed.append(text)
        parent = "/" + "/".join(fixed)
        if len(fixed) < 2 or fixed[0] in _SYSTEM_ROOTS or parent in _SYSTEM_DIRECTORIES:
            raise ConfigurationError(
                key,
                f"{template!r} puts users' names in {parent}, where a name could be a "
                "directory the node already has; use a directory of their own, at least two "
                "levels deep and outside the system's, like '/srv/jupyterhub/{username}'",
            )
        return parsed

    @classmethod
    def _parse(
        cls,
        template: str,
        key: str,
        max_path: int,
        max_components: int,
        forbidden: set[str],
        service: str,
    ) -> HomeTemplate:
        limit = (
            f"an EFS access point path has at most {max_components}"
            if service
            else (f"awsspawner allows at most {max_components}")
        )
        if not template.startswith("/") or template.endswith("/") or "//" in template:
            raise ConfigurationError(
                key,
                f"{template!r} must be an absolute path like '/jupyterhub/{{hub_id}}/{{username}}'"
                " (starting with '/', no empty or trailing components)",
            )
        parts = template[1:].split("/")
        if len(parts) > max_components:
            raise ConfigurationError(
                key, f"{template!r} has {len(parts)} directory levels; {limit}"
            )
        components: list[tuple[str, bool]] = []
        for part in parts:
            fields = [f for _, f, _, _ in string.Formatter().parse(part) if f is not None]
            if fields:
                if len(fields) != 1 or part != "{" + fields[0] + "}":
                    raise ConfigurationError(
                        key,
                        f"in {template!r}, {part!r}: a placeholder must be a whole directory "
                        "name (like '/{username}'), so that names cannot run into each other",
                    )
                if fields[0] not in _PLACEHOLDERS:
                    raise ConfigurationError(
                        key,
                        f"{template!r} uses {{{fields[0]}}}; known: "
                        + ", ".join("{" + p + "}" for p in _PLACEHOLDERS),
                    )
                components.append((fields[0], True))
                continue
            if part.startswith(".") or set(part) & forbidden or "}" in part:
                shown = "".join(sorted(c for c in forbidden if c.isprintable())) + "{}"
                who = service or "a node"
                raise ConfigurationError(
                    key,
                    f"in {template!r}, {part!r} is not a directory name {who} accepts (none "
                    f"may start with '.' or hold any of {shown})",
                )
            components.append((part, False))
        names = [text for text, placeholder in components if placeholder]
        if "username" not in names:
            raise ConfigurationError(
                key,
                f"{template!r} has no {{username}}: every user would share one home directory",
            )
        if len(names) != len(set(names)):
            raise ConfigurationError(key, f"{template!r} uses a placeholder twice")
        fixed = sum(1 + (0 if placeholder else len(text)) for text, placeholder in components)
        share = (max_path - fixed) // len(names)
        if not service:
            share = min(share, 255)  # a directory name's limit on Linux file systems
        if share < MIN_SHARE:
            raise ConfigurationError(
                key,
                f"{template!r} leaves {share} characters per name within the {max_path} "
                f"character path; shorten its fixed parts (each name needs {MIN_SHARE})",
            )
        return cls(template=template, components=tuple(components), share=share, max_path=max_path)

    def render(self, *, hub_id: str, username: str, servername: str) -> str:
        values = {
            "hub_id": hub_id,
            "username": username,
            "servername": servername,
        }
        out = []
        for text, placeholder in self.components:
            if not placeholder:
                out.append(text)
            elif not values[text]:
                # A name's escaped form never holds "~": these stand for no name at all.
                out.append(DEFAULT_SERVER_COMPONENT if text == "servername" else "~empty")
            else:
                out.append(_fit(values[text], self.share))
        path = "/" + "/".join(out)
        # The template checks make this impossible; a wrong path must never reach AWS.
        efs = self.max_path == MAX_PATH
        if len(path) > self.max_path or (efs and not _EFS_PATH.match(path)) or "/." in path:
            raise AssertionError(f"home path {path!r} breaks the rules of its storage")
        return path


@dataclass(frozen=True)
class HomeDirectory:
    """One user's home: the access point that exposes it, described by value."""

    file_system_id: str
    path: str
    uid: int
    gid: int
    permissions: str
    #: Tags of the access point (hub, user; escaped like task tags).
    tags: Mapping[str, str]

    @property
    def client_token(self) -> str:
        """CreateAccessPoint's ClientToken: the same for the same access point, everywhere."""
        text = "\0".join(
            map(
                str,
                (self.file_system_id, self.path, self.uid, self.gid, self.permissions, GENERATION),
            )
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()  # 64 characters: EFS's limit

    def create_request(self) -> dict[str, Any]:
        """CreateAccessPoint's parameters."""
        return {
            "ClientToken": self.client_token,
            "FileSystemId": self.file_system_id,
            "PosixUser": {"Uid": self.uid, "Gid": self.gid},
            "RootDirectory": {
                "Path": self.path,
                "CreationInfo": {
                    "OwnerUid": self.uid,
                    "OwnerGid": self.gid,
                    "Permissions": self.permissions,
                },
            },
            "Tags": [{"Key": key, "Value": value} for key, value in self.tags.items()],
        }


def home_directory(
    template: HomeTemplate,
    *,
    file_system_id: str,
    uid: int,
    gid: int,
    permissions: str,
    hub_id: str,
    username: str,
    servername: str,
    user_id: str = "",
) -> HomeDirectory:
    path = template.render(hub_id=hub_id, username=username, servername=servername)
    # The volume wants the id; the setting may be the file system's ARN.
    file_system_id = file_system_id.rsplit("/", 1)[-1]
    tags = {
        "Name": escape_tag_value(path),
        TAG_HUB: escape_tag_value(hub_id),
        TAG_USER: escape_tag_value(username),
    }
    if user_id:
        tags[TAG_USER_ID] = user_id
    return HomeDirectory(
        file_system_id=file_system_id,
        path=path,
        uid=uid,
        gid=gid,
        permissions=permissions,
        tags=tags,
    )


def _home_mount(container_path: str) -> dict[str, Any]:
    """A container's ``mountPoints`` entry for the home volume."""
    return {"sourceVolume": HOME_VOLUME_NAME, "containerPath": container_path, "readOnly": False}


@dataclass(frozen=True)
class HomeVolume:
    """What a user's revision adds to the base revision: the access point, mounted."""

    file_system_id: str
    access_point_id: str
    mount_path: str
    transit_encryption: bool
    iam_authorization: bool

    @property
    def key(self) -> str:
        """The part of a derived revision's identity that this volume decides."""
        return "\0".join(
            map(
                str,
                (
                    "efs",
                    self.file_system_id,
                    self.access_point_id,
                    self.mount_path,
                    self.transit_encryption,
                    self.iam_authorization,
                ),
            )
        )

    def volume(self) -> dict[str, Any]:
        """The task definition's ``volumes`` entry."""
        config: dict[str, Any] = {
            "fileSystemId": self.file_system_id,
            # With an access point the root is the access point's: ECS requires "/" here.
            "rootDirectory": "/",
            "transitEncryption": "ENABLED" if self.transit_encryption else "DISABLED",
            "authorizationConfig": {
                "accessPointId": self.access_point_id,
                "iam": "ENABLED" if self.iam_authorization else "DISABLED",
            },
        }
        return {"name": HOME_VOLUME_NAME, "efsVolumeConfiguration": config}

    def mount_point(self) -> dict[str, Any]:
        """The notebook container's ``mountPoints`` entry."""
        return _home_mount(self.mount_path)

    def helper_containers(
        self, notebook: Mapping[str, Any], *, task_memory: bool
    ) -> list[dict[str, Any]]:
        """Containers the revision runs before the notebook's: none (EFS creates the home
        with its owner, from the access point's CreationInfo)."""
        return []

    def depends_on(self) -> dict[str, str] | None:
        return None


#: Gives a node home to its owner when Docker has just created it (owned by root and empty),
#: and never touches a directory that exists: one ``stat`` on every later start. Root-owned
#: but not empty is someone else's directory (a template that collides with one): left as it
#: is. It works on ``.``, the container's working directory (the home), so it needs no path
#: of its own.
_CHOWN_NEW_HOME = (
    'if [ "$(stat -c %u .)" = 0 ] && [ -z "$(ls -A .)" ]; then '
    "chown {uid}:{gid} . && chmod {mode} .; fi"
)


@dataclass(frozen=True)
class NodeHomeVolume:
    """A home on the node's own disk: a ``host`` volume, owned as configured.

    A node's directory exists on that node only: the spawner pins each user to the node
    that holds their home (``home_nodes`` in its state, see :mod:`awsspawner.home_keeping`)."""

    path: str
    mount_path: str
    uid: int
    gid: int
    permissions: str

    @property
    def key(self) -> str:
        """The part of a derived revision's identity that this volume decides."""
        fields = ("host", self.path, self.mount_path, self.uid, self.gid, self.permissions)
        return "\0".join(map(str, fields))

    def volume(self) -> dict[str, Any]:
        return {"name": HOME_VOLUME_NAME, "host": {"sourcePath": self.path}}

    def mount_point(self) -> dict[str, Any]:
        return _home_mount(self.mount_path)

    def helper_containers(
        self, notebook: Mapping[str, Any], *, task_memory: bool
    ) -> list[dict[str, Any]]:
        """The owner-fixing container, run before ``notebook`` (which waits for its success)."""
        helper: dict[str, Any] = {
            "name": HOME_OWNER_CONTAINER,
            "image": notebook.get("image", ""),
            "essential": False,
            "user": "0",
            # Not the image's entry point: it may start a notebook server or need a TTY.
            "entryPoint": ["sh", "-c"],
            "command": [_CHOWN_NEW_HOME.format(uid=self.uid, gid=self.gid, mode=self.permissions)],
            "workingDirectory": HOME_OWNER_MOUNT,
            "mountPoints": [_home_mount(HOME_OWNER_MOUNT)],
        }
        if not task_memory:
            # Without a task-level memory, ECS on EC2 requires one for each container.
            helper["memoryReservation"] = 32
        for key in ("logConfiguration", "repositoryCredentials"):  # same image, same pull
            if notebook.get(key):
                helper[key] = notebook[key]
        return [helper]

    def depends_on(self) -> dict[str, str]:
        return {"containerName": HOME_OWNER_CONTAINER, "condition": "SUCCESS"}


#: Either kind of home a user's revision mounts.
AnyHomeVolume = HomeVolume | NodeHomeVolume
