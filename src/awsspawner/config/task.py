"""The settings that say what a task is: where the hub works, the task definition, launch
and network, resources, the notebook server's command line, tags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from traitlets import (
    Bool,
    Callable,
    Dict,
    Float,
    Instance,
    Integer,
    List,
    Type,
    Unicode,
    Union,
    default,
    validate,
)
from traitlets.config import LoggingConfigurable

from ..aws.auth import AWSSpawnerAuthentication, check_not_legacy
from ..launch.task_roles import RoleTemplate

__all__ = ["TaskConfig"]


class TaskConfig(LoggingConfigurable):
    """What :class:`~awsspawner.AWSSpawner` starts: ``c.AWSSpawner.<name>`` settings."""

    # ------------------------------------------------------------------ where the hub works

    aws_region = Unicode(
        config=True,
        help="""AWS region of every client awsspawner makes (ECS, EC2, SSM).

        Default: the AWS_REGION or AWS_DEFAULT_REGION environment variable. Required.
        """,
    )

    @default("aws_region")
    def _default_region(self) -> str:
        return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""

    task_cluster_name = Unicode(
        "",
        config=True,
        help="""Name or ARN of the ECS cluster every task runs in. Required.

        For FARGATE_SPOT or a capacity provider strategy the providers must be attached to
        this cluster.
        """,
    )

    hub_id = Unicode(
        "jupyterhub",
        config=True,
        help="""Identifies this hub's tasks in the cluster.

        Every task is started with ``startedBy`` derived from it (``jupyterhub-<hub_id>``; an
        id with characters ``startedBy`` does not allow, or ending in ``--`` and 8 hex digits,
        is written with a hash of itself, so two ids never share one) and tagged
        ``awsspawner:hub``, so one ListTasks call finds exactly this hub's tasks (the orphan
        reaper relies on it). Change it when several hubs share a cluster, and keep it
        stable afterwards: tasks started under an old id are no longer recognised as this
        hub's.
        """,
    )

    authentication_class = Type(
        AWSSpawnerAuthentication,
        klass=AWSSpawnerAuthentication,
        config=True,
        help="""Where the hub's AWS credentials come from.

        - ``awsspawner.AWSSpawnerAuthentication`` (default): botocore's default chain:
          environment, shared config files, ECS container role, EC2 instance profile (IMDSv2).
        - ``awsspawner.AWSSpawnerSecretAccessKeyAuthentication``: fixed keys from
          ``c.AWSSpawnerSecretAccessKeyAuthentication.aws_access_key_id`` /
          ``aws_secret_access_key``.
        - ``awsspawner.AWSSpawnerAssumeRoleAuthentication``: assume
          ``c.AWSSpawnerAssumeRoleAuthentication.role_arn`` through STS, refreshed before
          expiry.
        """,
    )

    authentication = Instance(AWSSpawnerAuthentication)

    @default("authentication")
    def _default_authentication(self) -> AWSSpawnerAuthentication:
        # parent=self: c.<AuthClass>.<key> settings apply to it.
        auth = self.authentication_class(parent=self)
        check_not_legacy(auth)
        return auth

    # ---------------------------------------------------------------------- task definition

    task_definition_family = Unicode(
        "",
        config=True,
        help="""Task definition family to run. awsspawner uses the family's latest ACTIVE
        revision; when ``image`` differs from that revision's notebook container image it
        registers a derived revision (see ``image``). Required unless
        ``task_definition_arn`` is set.""",
    )

    task_definition_arn = Unicode(
        "",
        config=True,
        help="""Run exactly this task definition revision (ARN or ``family:revision``).

        Skips finding and deriving revisions: ``task_definition_family`` and ``image`` are
        then not used.
        """,
    )

    task_container_name = Unicode(
        "",
        config=True,
        help="""Name of the notebook server's container in the task definition. Its command,
        environment, image and memory reservation are what awsspawner overrides, and its
        port is where the server is reached. Required.""",
    )

    image = Unicode(
        "",
        config=True,
        help="""Container image for the notebook container. Empty: the task definition's.

        When it differs from the image in the family's latest revision, awsspawner registers
        a copy of that revision with this image, once per (family, container, image), in the
        family ``<family>-img-<hash>`` and reuses it afterwards, also after a hub restart.
        The hub's IAM identity then needs ecs:RegisterTaskDefinition (and iam:PassRole for
        the definition's roles). Profiles commonly set it per choice.
        """,
    )

    task_definition_cache_seconds = Float(
        300.0,
        min=0.0,
        config=True,
        help="""How long a looked-up task definition revision is reused before the family is
        described again. A new revision registered by the admin is picked up after at most
        this long; 0 describes it for every spawn (one DescribeTaskDefinition per spawn).""",
    )

    # ----------------------------------------------------------------------- launch and network

    launch_type = Union(
        [Unicode(), List(Dict())],
        default_value="FARGATE",
        config=True,
        help="""Where ECS runs the task.

        - ``'FARGATE'``, ``'EC2'``, ``'EXTERNAL'`` (ECS Anywhere): RunTask's launchType.
        - ``'FARGATE_SPOT'``: the capacity provider strategy
          ``[{'capacityProvider': 'FARGATE_SPOT', 'weight': 1, 'base': 1}]``.
        - a list of ``{'capacityProvider': name, 'weight': int, 'base': int}`` dicts: sent as
          RunTask's capacityProviderStrategy verbatim (EC2 Auto Scaling providers included).
        - ``[]``: neither; the cluster's default capacity provider strategy decides.

        launchType and a strategy are never sent together. Fargate (certain when the type is
        FARGATE or every provider is FARGATE/FARGATE_SPOT) needs ``task_subnets`` and valid
        cpu/memory pairs, and does not take ``placement_constraints``. A strategy is checked
        when the hub starts against ECS's limits: at most 20 providers, ``base`` above 0 on
        one of them at most, a ``weight`` above 0 on at least one when there are several, and
        Fargate providers never mixed with Auto Scaling group ones.
        """,
    )

    capacity_fallback = List(
        Union([Unicode(), List(Dict())]),
        default_value=[],
        config=True,
        help="""Where to start the server instead when ECS has no capacity for it: launch types
        or strategies (each written as for ``launch_type``), tried in order.

        Example: with ``launch_type = 'FARGATE_SPOT'``, ``capacity_fallback = ['FARGATE']``
        starts the server on Fargate On-Demand when Fargate Spot has no capacity, and the
        spawn page says so. Only RunTask's own "no capacity" answers count (``failures[]``
        reasons ``RESOURCE:*``, "Capacity is unavailable at this time", Spot capacity):
        throttling and errors are retried or reported, never a reason to fall back. Each
        attempt is a new request (a new clientToken) shaped for its launch type (public IP,
        placement constraints and platform version as that launch type takes them), and all
        share one ``start_timeout``. Checked when the hub starts: every entry must work with
        the other settings, and none may need another network configuration (Fargate tasks
        always use awsvpc, ECS Anywhere tasks never do). May be set per profile.""",
    )

    task_subnets = List(
        Unicode(),
        config=True,
        help="""Subnet ids for tasks whose task definition uses awsvpc networking (always so
        on Fargate). Required for those; not sent for bridge or host. (A task definition with
        networkMode 'none' is refused: the hub could never reach its notebook.)""",
    )

    task_security_groups = List(
        Unicode(),
        config=True,
        help="""Security group ids for awsvpc tasks. They must let the hub and its proxy reach
        the notebook port; nothing else needs to. Empty: the VPC's default group.""",
    )

    assign_public_ip = Bool(
        False,
        config=True,
        help="""Give awsvpc tasks a public IP (assignPublicIp ENABLED). Always sent explicitly
        for awsvpc tasks. ECS gives public IPs to Fargate tasks only: for ``launch_type``
        'EC2' or a strategy of EC2 capacity providers DISABLED is sent whatever this says
        (the hub logs it once per profile). With ``launch_type = []`` (the cluster's default
        strategy) it is sent as configured, and ECS refuses the spawn if that strategy lands
        on EC2 providers. Tasks in public subnets without a NAT need it to pull images. A
        public notebook port bypasses the hub's proxy unless security groups close it: keep
        it False with private subnets.""",
    )

    platform_version = Unicode(
        "",
        config=True,
        help="""Fargate platform version (e.g. ``'1.4.0'``). Empty: LATEST. Fargate only.""",
    )

    placement_constraints = List(
        Dict(),
        config=True,
        help="""RunTask placementConstraints: ``{'type': 'memberOf', 'expression': ...}`` or
        ``{'type': 'distinctInstance'}``, at most 10, all must hold. Used for EC2 and EXTERNAL
        (ECS Anywhere) tasks to pick nodes by attribute, e.g.
        ``'attribute:gpu-enabled == true'``. Fargate does not take placement constraints: for
        launches that are certainly Fargate they are not sent.""",
    )

    # --------------------------------------------------------------------------- resources

    cpu = Integer(
        None,
        allow_none=True,
        config=True,
        help="""Task CPU units (1024 = one vCPU), sent as the task-level override. None: the
        task definition's. On Fargate only 256, 512, 1024, 2048, 4096, 8192 and 16384 run, each
        with its own memory sizes (checked when the launch is certainly Fargate).""",
    )

    memory = Integer(
        None,
        allow_none=True,
        config=True,
        help="""Task memory in MiB, sent as the task-level override. None: the task
        definition's. Must suit ``cpu`` on Fargate.""",
    )

    memory_reservation = Integer(
        None,
        allow_none=True,
        config=True,
        help="""Soft memory limit in MiB of the notebook container (its container override's
        memoryReservation). At most ``memory``. None: the task definition's.""",
    )

    task_role_arn = Union(
        [Unicode(), Callable()],
        default_value="",
        config=True,
        help="""IAM role the notebook's code gets (overrides.taskRoleArn). Empty: the task
        definition's role. The hub needs iam:PassRole for it.

        Per user: a template with ``{username}`` in the role's name
        (``arn:aws:iam::123456789012:role/jupyter/user-{username}``; the name is escaped to
        IAM's rules, see the security page of the docs, and checked when the hub starts), or
        a function of the spawner, plain or async, returning the ARN (checked at each
        spawn). The roles must exist; the hub's iam:PassRole must allow them (a wildcard on
        the prefix), and nothing else. With EFS homes, such a role can be limited to the
        user's own access point.""",
    )

    execution_role_arn = Unicode(
        "",
        config=True,
        help="""IAM role the ECS agent uses for the task (overrides.executionRoleArn): to pull
        the image from ECR, write logs, and read environment files and secrets. Empty: the
        task definition's. ``api_token_source = 's3'`` needs one of the two (checked before
        RunTask). The hub needs iam:PassRole for it.""",
    )

    # ------------------------------------------------------------------------- the server

    notebook_scheme = Unicode(
        "http",
        config=True,
        help="""Scheme of the URL the hub uses to reach the server: 'http', or 'https' when the
        server terminates TLS itself. Empty means 'http'.""",
    )

    @validate("task_role_arn")
    def _check_task_role(self, proposal: Mapping[str, Any]) -> Any:
        value = proposal["value"]
        if isinstance(value, str) and "{" in value:
            RoleTemplate.parse(value)
        return value

    @validate("notebook_scheme")
    def _valid_scheme(self, proposal: Mapping[str, Any]) -> str:
        value = str(proposal["value"]).strip().lower()
        return value or "http"  # never produce '://ip:port'

    notebook_args = List(
        Unicode(),
        config=True,
        help="""Arguments appended to the server's command after ``cmd`` and the hub's own
        arguments (``get_args()``), e.g. ``['--ServerApp.allow_origin=*']``.""",
    )

    # ---------------------------------------------------------------------------- tagging

    task_owner_tag_name = Unicode(
        "Jupyter-User",
        config=True,
        help="""Tag key whose value is the user's name (escaped into ECS's tag characters), for
        cost allocation. awsspawner also always sets awsspawner:user, awsspawner:server and
        awsspawner:hub.""",
    )

    task_tags = Dict(
        value_trait=Unicode(),
        key_trait=Unicode(),
        config=True,
        help="""Extra tags for every task, e.g. ``{'team': 'research'}``. Keys and values must
        be valid ECS tags; the awsspawner: keys, aws: keys and task_owner_tag_name are
        reserved. ECS allows 50 tags per task and awsspawner sets up to 8, so at most 42.
        With ``propagate_tags = 'TASK_DEFINITION'`` the revision's tags are copied onto the
        task and count too: a spawn whose task would carry more than 50 fails before RunTask,
        naming this setting.""",
    )

    propagate_tags = Unicode(
        "TASK_DEFINITION",
        config=True,
        help="""RunTask propagateTags: 'TASK_DEFINITION' copies the task definition's tags to
        the task, 'NONE' or '' copies none. 'SERVICE' is rejected: it applies to ECS services,
        and RunTask refuses it. Copied tags count against ECS's 50 per task (see
        ``task_tags``); ``aws:`` ones do not.""",
    )

    enable_ecs_managed_tags = Bool(
        True,
        config=True,
        help="""RunTask enableECSManagedTags: ECS adds aws:ecs:clusterName to the task.""",
    )
