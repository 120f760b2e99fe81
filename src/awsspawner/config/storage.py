"""The settings of persistent homes: each user's files on Amazon EFS, surviving a stop."""

from __future__ import annotations

from traitlets import Bool, Integer, Unicode, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError
from ..launch.homes import HomeTemplate

__all__ = ["StorageConfig"]


class StorageConfig(LoggingConfigurable):
    """Where users' files live: ``c.AWSSpawner.<name>`` settings. All may be set per profile
    (``efs_file_system_id: None`` in a profile switches homes off there)."""

    efs_file_system_id = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""EFS file system (``fs-...``) that holds every user's persistent home. None
        (the default): no persistent home; a server's files are gone when it stops.

        With a file system, each user gets a directory on it (``efs_home_directory``),
        exposed by an EFS access point the hub creates at the user's first spawn, and
        their tasks run a task definition revision derived from yours that mounts it at
        ``home_mount_path``. The file system needs a mount target in the availability zone
        of each of ``task_subnets``, reachable on NFS (TCP 2049) from
        ``task_security_groups``; the hub needs elasticfilesystem:CreateAccessPoint,
        DescribeAccessPoints and TagResource, and ecs:RegisterTaskDefinition; the task role
        needs elasticfilesystem:ClientMount and ClientWrite (see the storage page of the
        docs). Fargate needs platform version 1.4.0 or later; ECS Anywhere (EXTERNAL)
        cannot mount EFS, so a profile on EXTERNAL must set it to None.
        """,
    )

    home_mount_path = Unicode(
        "/home/jovyan",
        config=True,
        help="""Where the home is mounted in the notebook container (with
        ``efs_file_system_id``). The default is the home of the Jupyter Docker Stacks'
        ``jovyan`` user, where the notebook server starts. The task definition's notebook
        container must not mount anything else there.""",
    )

    efs_home_directory = Unicode(
        "/jupyterhub/{hub_id}/{username}",
        config=True,
        help="""The directory on the file system that becomes a user's home: an absolute
        path whose directory names are fixed text or exactly one of ``{username}``
        (required), ``{servername}`` and ``{hub_id}``.

        Without ``{servername}`` (the default) a user's named servers share their home.
        With it, each server has its own; the default server's is ``~default``. Names are
        escaped: ASCII letters, digits and ``_ - . @`` stay, anything else becomes ``%XX`` per
        byte, so no two users share a directory and none can leave the prefix. EFS allows
        100 characters and 4 directory levels per path: a name longer than its share is
        cut and ends in a hash, and a template that leaves a name fewer than 22 characters
        is refused when the hub starts. Changing it gives every user a new, empty home (the
        old directories stay on the file system).""",
    )

    node_home_directory = Unicode(
        None,
        allow_none=True,
        config=True,
        help="""A directory on each node's own disk that becomes a user's home, for ECS
        Anywhere and EC2 nodes without EFS: a template like ``efs_home_directory``
        (``/srv/jupyterhub/{username}``; ``{username}`` required, ``{servername}`` and
        ``{hub_id}`` allowed, names escaped the same way). None (the default): no node homes.

        The directory is bind-mounted at ``home_mount_path`` through the user's own task
        definition revision. A node's directory exists on that node only, so each server is
        pinned to the node of its first spawn (a placement constraint on the node's instance
        id); if that node leaves the cluster, the next spawn starts on another node, with
        that node's directory. Docker creates a missing directory owned by root: the revision
        runs a small container as root first (the notebook image, ``sh``, ``stat``, ``chown``)
        that gives a new home to ``efs_posix_uid``:``efs_posix_gid`` with mode
        ``efs_home_permissions``. Cannot be combined with ``efs_file_system_id``, nor used
        on Fargate (no host directories there); back the directory up yourself.""",
    )

    efs_posix_uid = Integer(
        1000,
        min=0,
        max=4294967295,
        config=True,
        help="""The POSIX user id every file operation through a home's access point runs
        as, whatever user the container runs as; also the home directory's owner when EFS
        creates it at first use (and a node home's owner, ``node_home_directory``). 1000 is
        ``jovyan`` in the Jupyter Docker Stacks.""",
    )

    efs_posix_gid = Integer(
        100,
        min=0,
        max=4294967295,
        config=True,
        help="""The POSIX group id of a home's access point and of its directory, on EFS or
        on a node (100 is ``users`` in the Jupyter Docker Stacks).""",
    )

    efs_home_permissions = Unicode(
        "0750",
        config=True,
        help="""The mode a home directory gets when it is created at first use, on EFS or on
        a node (octal, 3 or 4 digits). Changing it, or the uid or gid, later makes new
        access points (and revisions) for the same directories; the directories keep their
        mode.""",
    )

    efs_transit_encryption = Bool(
        True,
        config=True,
        help="""Encrypt NFS traffic between the task and EFS with TLS (the volume's
        ``transitEncryption``). Required by ``efs_iam_authorization``.""",
    )

    efs_iam_authorization = Bool(
        True,
        config=True,
        help="""Mount with the task role's IAM identity (the volume's
        ``authorizationConfig.iam``), so the file system policy and the task role's
        elasticfilesystem:ClientMount/ClientWrite decide who may mount. Needs
        ``efs_transit_encryption``.""",
    )

    @validate("efs_home_directory")
    def _check_home_directory(self, proposal: dict[str, str]) -> str:
        HomeTemplate.parse(proposal["value"])
        return proposal["value"]

    @validate("node_home_directory")
    def _check_node_home_directory(self, proposal: dict[str, str | None]) -> str | None:
        if proposal["value"] is not None:
            HomeTemplate.parse_node(proposal["value"])
        return proposal["value"]

    @validate("efs_home_permissions")
    def _check_permissions(self, proposal: dict[str, str]) -> str:
        value = proposal["value"]
        if not (3 <= len(value) <= 4 and all(c in "01234567" for c in value)):
            raise ConfigurationError(
                "efs_home_permissions", f"must be an octal mode like '0750', not {value!r}"
            )
        return value
