"""Every setting of AWSSpawner (``c.AWSSpawner.<name>``), with its help text.

The traits live in a mixin of their own so that ``spawner.py`` holds only behaviour. Checks
that involve one value are here; checks across values are in
:meth:`awsspawner.settings.SpawnSettings.check`, run when the spawner is built and again for
each spawn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    CaselessStrEnum,
    Dict,
    Float,
    Instance,
    Integer,
    List,
    Type,
    Unicode,
    Union,
    default,
    observe,
    validate,
)
from traitlets.config import LoggingConfigurable

from .auth import AWSSpawnerAuthentication, check_not_legacy
from .errors import ConfigurationError
from .gateway import ECSGateway
from .nodeaddress import ADDRESS_RESOLVERS
from .profiles import DEFAULT_MAX_FREE_LENGTH

__all__ = ["AWSSpawnerConfig"]

_DEPRECATED_TRAITS = {
    "args_join": "awsspawner passes the server's arguments as a list; nothing to join",
    "form_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
    "first_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
    "input_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
}


class AWSSpawnerConfig(LoggingConfigurable):
    """The settings of :class:`~awsspawner.AWSSpawner`, set as ``c.AWSSpawner.<name>``."""

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
        cpu/memory pairs, and does not take ``placement_constraints``.
        """,
    )

    task_subnets = List(
        Unicode(),
        config=True,
        help="""Subnet ids for tasks whose task definition uses awsvpc networking (always so
        on Fargate). Required for those; not sent for bridge, host or none.""",
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
        for awsvpc tasks. Only Fargate supports it; tasks in public subnets without a NAT need
        it to pull images. A public notebook port bypasses the hub's proxy unless security
        groups close it: keep it False with private subnets.""",
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

    task_role_arn = Unicode(
        "",
        config=True,
        help="""IAM role the notebook's code gets (overrides.taskRoleArn). Empty: the task
        definition's role. The hub needs iam:PassRole for it.""",
    )

    # ------------------------------------------------------------------------- the server

    notebook_scheme = Unicode(
        "http",
        config=True,
        help="""Scheme of the URL the hub uses to reach the server: 'http', or 'https' when the
        server terminates TLS itself. Empty means 'http'.""",
    )

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
        be valid ECS tags; the awsspawner: keys and task_owner_tag_name are reserved.""",
    )

    propagate_tags = Unicode(
        "TASK_DEFINITION",
        config=True,
        help="""RunTask propagateTags: 'TASK_DEFINITION' copies the task definition's tags to
        the task, 'NONE' or '' copies none. 'SERVICE' is rejected: it applies to ECS services,
        and RunTask refuses it.""",
    )

    enable_ecs_managed_tags = Bool(
        True,
        config=True,
        help="""RunTask enableECSManagedTags: ECS adds aws:ecs:clusterName to the task.""",
    )

    # ------------------------------------------------------------------ ECS Anywhere ports

    use_dynamic_port = Bool(
        False,
        config=True,
        help="""For host-network tasks (ECS Anywhere or EC2): pick a free port between
        ``port_range_start`` and ``port_range_end`` for each server, so several servers can
        share a node. In bridge mode ECS maps the port itself and this is not needed.""",
    )

    port_range_start = Integer(
        8000,
        config=True,
        help="""Lowest port ``use_dynamic_port`` may pick (inclusive).""",
    )

    port_range_end = Integer(
        9000,
        config=True,
        help="""Highest port ``use_dynamic_port`` may pick (inclusive).""",
    )

    # ------------------------------------------------------------- finding node addresses

    address_resolvers = List(
        Unicode(),
        default_value=list(ADDRESS_RESOLVERS),
        config=True,
        help="""How the address of a task's node is found, for bridge and host networking
        (awsvpc tasks have their own ENI address). Tried in this order; remove a name to
        disable it:

        - ``container-attribute``: the attribute ``node_address_attribute`` of the container
          instance, set by the operator (the way to pin an address);
        - ``ec2-instance``: EC2 DescribeInstances (``i-`` nodes; needs ec2:DescribeInstances);
        - ``ssm-instance-information``: the IPAddress SSM reports (``mi-`` nodes; needs
          ssm:DescribeInstanceInformation); often docker0 on Docker hosts, hence the filters;
        - ``ssm-inventory``: SSM inventory AWS:Network (needs ssm:ListInventoryEntries and an
          inventory association);
        - ``ssm-command``: runs one fixed command through SSM Run Command on that node
          (needs ssm:SendCommand and ssm:GetCommandInvocation; remove it to never run
          commands on nodes).
        """,
    )

    @validate("address_resolvers")
    def _valid_resolvers(self, proposal: Mapping[str, Any]) -> list[str]:
        unknown = [n for n in proposal["value"] if n not in ADDRESS_RESOLVERS]
        if unknown:
            raise ConfigurationError(
                "address_resolvers", f"unknown {unknown}; known: {', '.join(ADDRESS_RESOLVERS)}"
            )
        return list(proposal["value"])

    node_address_attribute = Unicode(
        "jupyterhub.address",
        config=True,
        help="""Name of the container instance attribute holding the node's address, for the
        ``container-attribute`` resolver. Set it when registering an ECS Anywhere node
        (``--attributes jupyterhub.address=10.1.2.3``) or with ecs:PutAttributes.""",
    )

    node_address_cidrs = List(
        Unicode(),
        config=True,
        help="""If set, a node address is accepted only inside one of these CIDRs (all
        resolvers), e.g. ``['10.20.0.0/16']``: the network the hub reaches nodes on.""",
    )

    node_address_exclude_cidrs = List(
        Unicode(),
        default_value=["169.254.0.0/16", "172.17.0.0/16", "127.0.0.1/32"],
        config=True,
        help="""Addresses never taken as a node's address: link-local, Docker's default bridge
        and the loopback address by default.""",
    )

    node_interface = Unicode(
        "",
        config=True,
        help="""Network interface whose address is the node's (``ssm-inventory`` and
        ``ssm-command``), e.g. ``'eth1'``. Empty: the first interface that is not excluded.""",
    )

    node_interface_exclude = List(
        Unicode(),
        default_value=["lo", "docker*", "br-*", "veth*", "cni*", "flannel*", "virbr*"],
        config=True,
        help="""Interface name patterns (fnmatch) never taken for the node's address.""",
    )

    node_address_cache_seconds = Float(
        300.0,
        min=0.0,
        config=True,
        help="""How long a node's address is reused for further spawns on that node. An
        address the hub cannot reach is dropped at once.""",
    )

    node_address_probe_seconds = Float(
        2.0,
        min=0.0,
        config=True,
        help="""Before using a node address, open a TCP connection to it (at the server's
        port) for at most this long: a refused or open port proves the host is there; no route
        or no answer moves on to the next resolver. 0 disables the check.""",
    )

    ssm_command_timeout = Float(
        20.0,
        min=1.0,
        config=True,
        help="""How long the ``ssm-command`` resolver waits for its command's output.""",
    )

    # --------------------------------------------------------------------------- profiles

    profiles: List[Any] = List(
        config=True,
        help="""Server kinds offered on the spawn page, in the original shape: a list of
        ``(display_name, key, {setting: value})`` tuples. The chosen profile's settings
        override the configured ones for that spawn only (the next spawn starts again from the
        configuration). The first profile is preselected. Cannot be combined with
        ``profile_list``; see the docs' profiles page.""",
    )

    profile_list = AnyTrait(
        [],
        config=True,
        help="""Server kinds offered on the spawn page, in KubeSpawner's shape: a list of dicts
        with ``display_name``, ``slug``, ``description``, ``default``, ``spawner_override``
        (settings for that profile) and ``profile_options`` (choices within a profile, each
        with its own ``spawner_override``, and an optional free-form ``unlisted_choice`` with
        a ``validation_regex``). May be a function ``f(spawner)`` (sync or async) returning
        that list, evaluated for each form and spawn. Cannot be combined with ``profiles``.

        Overrides merge like JupyterHub's group_overrides (dicts recursively, None deletes a
        key) in this order: configuration < group_overrides and apply_user_options < the
        profile < its chosen options. aws_region, task_cluster_name, authentication_class and
        hub_id cannot be overridden.""",
    )

    unlisted_choice_max_length = Integer(
        DEFAULT_MAX_FREE_LENGTH,
        min=1,
        config=True,
        help="""The longest free-form value (a profile option's ``unlisted_choice``) a user may
        enter, in characters. Longer values are refused with HTTP 400 before anything is sent
        to AWS, whatever the option's ``validation_regex`` allows; values are also shortened
        in log lines. RunTask's overrides have their own limit of 8,192 characters in all.""",
    )

    profile_form_template = Unicode(
        "",
        config=True,
        help="""A Jinja2 template (autoescaped) for the profile form, replacing the built-in
        one. It receives ``profiles`` (objects with slug, display_name, description, options)
        and ``selected`` (the preselected profile's slug), and must submit a ``profile`` field
        and, for options, ``profile-option-<slug>--<option>`` fields.""",
    )

    # --------------------------------------------------------------------- escape hatch

    modify_run_task_hook = AnyTrait(
        None,
        allow_none=True,
        config=True,
        help="""A function ``hook(spawner, request) -> request`` (may be async) that receives the
        complete RunTask keyword arguments just before the call and returns them, changed as
        needed (e.g. add ``group``, ``volumeConfigurations`` or container overrides awsspawner
        has no setting for). Return value replaces the request. Keep ``clientToken``,
        ``startedBy`` and the awsspawner: tags: they are how tasks are tracked and reaped.""",
    )

    @validate("modify_run_task_hook")
    def _valid_hook(self, proposal: Mapping[str, Any]) -> Any:
        if proposal["value"] is not None and not callable(proposal["value"]):
            raise ConfigurationError("modify_run_task_hook", "must be a function or None")
        return proposal["value"]

    # ----------------------------------------------------------------- AWS client settings

    aws_retry_mode = CaselessStrEnum(
        ["standard", "adaptive", "legacy"],
        default_value="standard",
        config=True,
        help="""botocore retry mode of the shared clients. 'standard': capped exponential
        backoff with a client-wide retry quota. 'adaptive' adds client-side rate limiting,
        effective because all spawners share one client. See the docs' retry plan.""",
    )

    aws_max_attempts = Integer(
        3,
        min=1,
        config=True,
        help="""Attempts per AWS call, the first included, made by botocore for throttling,
        5xx and connection errors. 1 turns botocore's retries off.""",
    )

    task_call_retries = Integer(
        3,
        min=0,
        config=True,
        help="""Further attempts of RunTask and StopTask when botocore's own retries gave up on
        throttling, a server error or a lost connection (within 60 s in all). RunTask is
        repeated with the spawn's clientToken, so a lost answer never makes a second task.
        Errors no retry can fix (access denied, invalid parameters) are raised at once.""",
    )

    aws_connect_timeout = Float(
        5.0,
        min=0.1,
        config=True,
        help="""Seconds to wait for a connection to an AWS endpoint.""",
    )

    aws_read_timeout = Float(
        30.0,
        min=0.1,
        config=True,
        help="""Seconds to wait for an AWS answer once connected.""",
    )

    aws_max_pool_connections = Integer(
        100,
        min=1,
        config=True,
        help="""Connections each shared client keeps open at most. Concurrent spawns beyond it
        wait for a free connection; match it to JupyterHub.concurrent_spawn_limit.""",
    )

    gc_freeze_after_setup = Bool(
        False,
        config=True,
        help="""Call Python's ``gc.freeze()`` once, after awsspawner's first AWS client is
        built (the hub has started and botocore's service models are loaded). Full garbage
        collections then skip everything that existed at that moment, which is most of the
        hub's heap: in the benchmark with 1,000 servers the longest collection pause drops
        from about 190 ms to a few ms, and the event loop's worst stall with it. The cost: a
        reference cycle that exists at that moment and later becomes garbage (say the ORM
        objects of a user deleted afterwards) is never freed, a few KB each. Affects the whole
        hub process, not only awsspawner; off by default. See the scale page of the docs.""",
    )

    # -------------------------------------------------------------------------- seams

    gateway = Instance(
        ECSGateway,
        allow_none=True,
        help="""The ECSGateway this spawner uses. None (the default): the hub-wide shared one
        for these credentials and region. Tests and embedders may hand in their own.""",
    )

    # ----------------------------------------------------------------------- deprecated

    args_join = Unicode("", config=True, help="Deprecated and ignored.")
    form_template = Unicode("", config=True, help="Deprecated and ignored; use profiles.")
    first_template = Unicode("", config=True, help="Deprecated and ignored; use profiles.")
    input_template = Unicode("", config=True, help="Deprecated and ignored; use profiles.")

    @observe(*_DEPRECATED_TRAITS)
    def _warn_deprecated(self, change: Mapping[str, Any]) -> None:
        self.log.warning(
            "c.AWSSpawner.%s is deprecated and ignored: %s",
            change["name"],
            _DEPRECATED_TRAITS[change["name"]],
        )
