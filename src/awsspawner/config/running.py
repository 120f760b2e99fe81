"""The settings that say how servers are run: ports and node addresses of ECS Anywhere,
profiles, the RunTask hook, AWS client behaviour, the spawn's timings, deprecated names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from traitlets import (
    Any as AnyTrait,
)
from traitlets import (
    Bool,
    CaselessStrEnum,
    Float,
    Instance,
    Integer,
    List,
    Unicode,
    observe,
    validate,
)
from traitlets.config import LoggingConfigurable

from ..aws.clients import ClientSettings
from ..aws.gateway import ECSGateway
from ..endpoints.finding import EndpointLookup
from ..endpoints.node_address import ADDRESS_RESOLVERS, AddressPolicy
from ..errors import ConfigurationError
from ..profiles.menu import DEFAULT_MAX_FREE_LENGTH

__all__ = ["RunningConfig"]

_DEPRECATED_TRAITS = {
    "args_join": "awsspawner passes the server's arguments as a list; nothing to join",
    "form_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
    "first_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
    "input_template": "use c.AWSSpawner.profiles (or Spawner.options_form)",
}


class RunningConfig(LoggingConfigurable):
    """How :class:`~awsspawner.AWSSpawner` runs servers: ``c.AWSSpawner.<name>`` settings."""

    # ---------------------------------------------------------------- the spawn's timings

    startup_poll_interval = Float(
        2.0,
        min=0.05,
        config=True,
        help="""Seconds between DescribeTasks calls while a task starts (PROVISIONING, PENDING,
        ACTIVATING). JupyterHub's start_timeout bounds the whole wait.""",
    )

    missing_grace_seconds = Float(
        60.0,
        min=0.0,
        config=True,
        help="""How long after RunTask a task that DescribeTasks reports MISSING still counts as
        starting (ECS is eventually consistent). After it, a missing task fails the spawn, and
        poll() reports a missing task as stopped.""",
    )

    stop_wait_seconds = Float(
        60.0,
        min=0.0,
        config=True,
        help="""How long stop() waits for ECS to report the task STOPPED after StopTask
        (``stop(now=True)`` does not wait).""",
    )

    slow_spawn_message_seconds = Float(
        30.0,
        min=1.0,
        config=True,
        help="""After this many seconds of a spawn, and as often again, the spawn page says the
        task is still starting and in which ECS stage it is.""",
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
        default_value=list(AddressPolicy.excluded_cidrs),
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
        default_value=list(AddressPolicy.excluded_interfaces),
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
        default_value=ClientSettings.retry_mode,
        config=True,
        help="""botocore retry mode of the shared clients. 'standard': capped exponential
        backoff with a client-wide retry quota. 'adaptive' adds client-side rate limiting,
        effective because all spawners share one client. See the docs' retry plan.""",
    )

    aws_max_attempts = Integer(
        ClientSettings.max_attempts,
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
        ClientSettings.connect_timeout,
        min=0.1,
        config=True,
        help="""Seconds to wait for a connection to an AWS endpoint.""",
    )

    aws_read_timeout = Float(
        ClientSettings.read_timeout,
        min=0.1,
        config=True,
        help="""Seconds to wait for an AWS answer once connected.""",
    )

    aws_max_pool_connections = Integer(
        ClientSettings.max_pool_connections,
        min=1,
        config=True,
        help="""Connections each shared client keeps open at most. Concurrent spawns beyond it
        wait for a free connection; match it to JupyterHub.concurrent_spawn_limit.""",
    )

    gc_freeze_after_setup = Bool(
        True,
        config=True,
        help="""Call Python's ``gc.freeze()`` once, after awsspawner's first AWS client is
        built (the hub has started and botocore's service models are loaded). Full garbage
        collections then skip everything that existed at that moment, which is most of the
        hub's heap: a real JupyterHub with 1,000 users holds about 391,000 tracked objects
        and a full collection of them took 215 ms; in the benchmark with 1,000 servers the
        longest collection pause during a login storm drops from 150-240 ms to about 26 ms.
        The cost: a reference cycle that exists at that moment and later becomes garbage (say
        the ORM objects of a user deleted afterwards) is never freed, a few KB each; objects
        freed by reference counting are freed as usual. Affects the whole hub process, not
        only awsspawner. On by default since the measurements on the scale page of the
        docs; set False to keep Python's default collector behaviour.""",
    )

    def client_settings(self) -> ClientSettings:
        """The AWS client settings above, as the shared clients take them."""
        return ClientSettings(
            retry_mode=self.aws_retry_mode,
            max_attempts=self.aws_max_attempts,
            connect_timeout=self.aws_connect_timeout,
            read_timeout=self.aws_read_timeout,
            max_pool_connections=self.aws_max_pool_connections,
        )

    def endpoint_lookup(self) -> EndpointLookup:
        """The address settings above, as the endpoint finder takes them."""
        return EndpointLookup(
            address_resolvers=tuple(self.address_resolvers),
            node_address_attribute=self.node_address_attribute,
            policy=AddressPolicy(
                allowed_cidrs=tuple(self.node_address_cidrs),
                excluded_cidrs=tuple(self.node_address_exclude_cidrs),
                interface=self.node_interface,
                excluded_interfaces=tuple(self.node_interface_exclude),
            ),
            node_address_cache_seconds=self.node_address_cache_seconds,
            node_address_probe_seconds=self.node_address_probe_seconds,
            ssm_command_timeout=self.ssm_command_timeout,
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
