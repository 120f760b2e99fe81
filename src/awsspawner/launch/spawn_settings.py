"""The settings of one spawn, checked as a whole.

The spawner copies its configuration into a :class:`SpawnSettings` at the start of every spawn
(a profile may change some values first) and never changes the long-lived spawner itself: a
profile that chose ``launch_type='EC2'`` cannot leak into the next spawn.

:func:`SpawnSettings.check` holds every rule that involves more than one setting, and is run
twice: when the spawner is built (on the class configuration) and at the top of ``start()``
(on this spawn's values) before any AWS call. Each error names the ``c.AWSSpawner.<key>`` to
fix.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .homes import HomeTemplate
from .secrets import TaskSecrets, check_secrets
from .tags import MAX_OWN_TASK_TAGS, MAX_TAGS, is_valid_tag_key, is_valid_tag_value
from .task_roles import RoleTemplate
from .token_file import FROM_S3

__all__ = ["FARGATE_PROVIDERS", "LaunchMode", "SpawnSettings", "fargate_memory_choices"]

LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL")
FARGATE_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})
FARGATE_SPOT_STRATEGY = ({"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1},)
PROPAGATE_TAGS = ("TASK_DEFINITION", "NONE")
PLACEMENT_CONSTRAINT_TYPES = ("memberOf", "distinctInstance")
MAX_PLACEMENT_CONSTRAINTS = 10
MAX_STRATEGY_ITEMS = 20
#: Settings whose "off" is None: a profile's None turns them off instead of deleting them.
_NONE_MEANS_OFF = frozenset({"efs_file_system_id", "node_home_directory"})
#: Settings a profile's None empties (``secrets: None``: no secrets in that profile).
_NONE_MEANS_EMPTY: Mapping[str, Any] = {"secrets": {}, "task_role_arn": ""}
_FILE_SYSTEM_ID = re.compile(
    r"^(arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-:]+:file-system/fs-[0-9a-f]{8,40}"
    r"|fs-[0-9a-f]{8,40})$"
)


def fargate_memory_choices(cpu: int) -> tuple[int, ...] | None:
    """The task memory sizes (MiB) Fargate runs with ``cpu`` units, or None for no such cpu."""
    gib = 1024
    steps = {
        512: (1 * gib, 4 * gib, gib),
        1024: (2 * gib, 8 * gib, gib),
        2048: (4 * gib, 16 * gib, gib),
        4096: (8 * gib, 30 * gib, gib),
        8192: (16 * gib, 60 * gib, 4 * gib),
        16384: (32 * gib, 120 * gib, 8 * gib),
    }
    if cpu == 256:
        return (512, 1024, 2048)
    if cpu not in steps:
        return None
    low, high, step = steps[cpu]
    return tuple(range(low, high + 1, step))


@dataclass(frozen=True)
class LaunchMode:
    """Where ECS puts the task: one launch type, or a capacity provider strategy.

    Exactly one of ``launch_type`` and ``strategy`` is set, or neither: an empty strategy list
    means "the cluster's default capacity provider strategy" and sends neither field.
    """

    launch_type: str | None = None
    strategy: tuple[Mapping[str, Any], ...] | None = None

    @classmethod
    def parse(cls, value: Any) -> LaunchMode:
        if isinstance(value, str):
            name = value.strip().upper()
            if name == "FARGATE_SPOT":
                return cls(strategy=FARGATE_SPOT_STRATEGY)
            if name in LAUNCH_TYPES:
                return cls(launch_type=name)
            raise ConfigurationError(
                "launch_type",
                f"unknown launch type {value!r}; use one of 'EC2', 'FARGATE', 'FARGATE_SPOT', "
                "'EXTERNAL', or a capacity provider strategy (a list of "
                "{'capacityProvider': ..., 'weight': ..., 'base': ...} dicts)",
            )
        if isinstance(value, (list, tuple)):
            strategy = tuple(_check_strategy_item(i, item) for i, item in enumerate(value))
            _check_strategy(strategy)
            return cls(strategy=strategy)
        raise ConfigurationError(
            "launch_type", f"must be a string or a list of dicts, not {type(value).__name__}"
        )

    @property
    def providers(self) -> frozenset[str]:
        return frozenset(str(item["capacityProvider"]) for item in self.strategy or ())

    @property
    def certainly_fargate(self) -> bool:
        """True only when every way this launch can go ends on Fargate."""
        if self.launch_type is not None:
            return self.launch_type == "FARGATE"
        return bool(self.strategy) and self.providers <= FARGATE_PROVIDERS

    @property
    def certainly_ec2(self) -> bool:
        return self.launch_type == "EC2"

    @property
    def refuses_public_ip(self) -> bool:
        """True when ECS would refuse ``assignPublicIp: ENABLED``: it gives public IPs to
        Fargate tasks only, never on EC2 (launch type or Auto Scaling group providers, which a
        strategy cannot mix with Fargate ones) or EXTERNAL."""
        if self.launch_type is not None:
            return self.launch_type != "FARGATE"
        return bool(self.strategy) and not self.providers <= FARGATE_PROVIDERS

    @property
    def uses_cluster_default(self) -> bool:
        """Neither a launch type nor a strategy: the cluster's default strategy decides."""
        return self.launch_type is None and not self.strategy

    @property
    def is_external(self) -> bool:
        return self.launch_type == "EXTERNAL"

    def plain_name(self) -> str:
        """How a user would say where the server runs ("Fargate Spot", "EC2")."""
        names = {"FARGATE": "Fargate On-Demand", "EC2": "EC2", "EXTERNAL": "ECS Anywhere"}
        if self.launch_type:
            return names[self.launch_type]
        if not self.strategy:
            return "the cluster's default capacity providers"
        if self.providers == {"FARGATE_SPOT"}:
            return "Fargate Spot"
        if self.providers == {"FARGATE"}:
            return "Fargate On-Demand"
        return "capacity providers " + ", ".join(sorted(self.providers))

    @property
    def network(self) -> str:
        """The network a task launched this way can have: "awsvpc" (Fargate: always),
        "no-awsvpc" (ECS Anywhere: never), or "any" (EC2: the revision decides)."""
        if self.certainly_fargate:
            return "awsvpc"
        if self.is_external:
            return "no-awsvpc"
        return "any"

    def describe(self) -> str:
        if self.launch_type:
            return self.launch_type
        if not self.strategy:
            return "the cluster's default capacity provider strategy"
        return "capacity providers " + ", ".join(sorted(self.providers))


def _check_strategy(strategy: tuple[Mapping[str, Any], ...]) -> None:
    """ECS's limits on a whole strategy (CapacityProviderStrategyItem in the API reference),
    checked when the hub starts instead of by ECS at every spawn."""
    if len(strategy) > MAX_STRATEGY_ITEMS:
        raise ConfigurationError(
            "launch_type",
            f"a capacity provider strategy holds at most {MAX_STRATEGY_ITEMS} providers; "
            f"this one has {len(strategy)}",
        )
    # "Only one capacity provider can have a base defined": a base of 0 is the default, so
    # only bases above 0 count (an assumption the emulator's strict mode shares).
    with_base = [str(item["capacityProvider"]) for item in strategy if item.get("base")]
    if len(with_base) > 1:
        raise ConfigurationError(
            "launch_type",
            f"only one capacity provider of a strategy may set 'base'; {', '.join(with_base)} do",
        )
    providers = {str(item["capacityProvider"]) for item in strategy}
    if providers & FARGATE_PROVIDERS and providers - FARGATE_PROVIDERS:
        raise ConfigurationError(
            "launch_type",
            "a capacity provider strategy holds either Fargate providers (FARGATE, "
            "FARGATE_SPOT) or Auto Scaling group ones, never both; this one mixes "
            f"{', '.join(sorted(providers))}",
        )
    if len(strategy) > 1 and not any(item.get("weight", 0) > 0 for item in strategy):
        raise ConfigurationError(
            "launch_type",
            "a strategy of several capacity providers needs a 'weight' above 0 on at least one "
            "(ECS places no task by weight otherwise)",
        )


def _check_strategy_item(index: int, item: Any) -> Mapping[str, Any]:
    where = f"capacity provider strategy item {index}"
    if not isinstance(item, Mapping):
        raise ConfigurationError("launch_type", f"{where} must be a dict, not {item!r}")
    unknown = set(item) - {"capacityProvider", "weight", "base"}
    if unknown:
        raise ConfigurationError(
            "launch_type",
            f"{where} has unknown keys {sorted(unknown)}; allowed: capacityProvider, weight, base",
        )
    provider = item.get("capacityProvider")
    if not isinstance(provider, str) or not provider:
        raise ConfigurationError("launch_type", f"{where} needs a 'capacityProvider' name")
    for number in ("weight", "base"):
        if number in item and (
            not isinstance(item[number], int) or isinstance(item[number], bool) or item[number] < 0
        ):
            raise ConfigurationError(
                "launch_type", f"{where}: {number!r} must be a non-negative integer"
            )
    if item.get("base", 0) > 100000 or item.get("weight", 0) > 1000:
        raise ConfigurationError(
            "launch_type", f"{where}: weight is at most 1000 and base at most 100000"
        )
    return dict(item)


@dataclass(frozen=True)
class SpawnSettings:
    """The values one spawn uses, taken from the spawner's traits (plus any profile).

    No field has a default: every value comes from a trait (``c.AWSSpawner.<name>``), whose
    default is the only one, so the two can never disagree."""

    aws_region: str
    task_cluster_name: str
    task_definition_family: str
    task_container_name: str
    hub_id: str
    launch: LaunchMode
    task_definition_arn: str
    task_security_groups: tuple[str, ...]
    task_subnets: tuple[str, ...]
    assign_public_ip: bool
    platform_version: str
    cpu: int | None
    memory: int | None
    memory_reservation: int | None
    notebook_scheme: str
    notebook_args: tuple[str, ...]
    #: An ARN, a template with {username}, or a function of the spawner (resolved per spawn).
    task_role_arn: Any
    image: str
    task_owner_tag_name: str
    task_tags: Mapping[str, str]
    propagate_tags: str
    enable_ecs_managed_tags: bool
    placement_constraints: tuple[Mapping[str, Any], ...]
    port_range_start: int
    port_range_end: int
    use_dynamic_port: bool
    cmd: tuple[str, ...]
    execution_role_arn: str
    api_token_source: str
    api_token_bucket: str
    api_token_key_prefix: str
    api_token_kms_key_id: str
    #: {environment variable name: ARN of a Secrets Manager secret or SSM parameter}
    secrets: Mapping[str, str]
    efs_file_system_id: str | None
    home_mount_path: str
    efs_home_directory: str
    node_home_directory: str | None
    efs_posix_uid: int
    efs_posix_gid: int
    efs_home_permissions: str
    efs_transit_encryption: bool
    efs_iam_authorization: bool
    #: Launch types or strategies tried, in order, when RunTask finds no capacity.
    capacity_fallback: tuple[Any, ...]
    #: Environment variables a profile adds on top of JupyterHub's (key ``environment``).
    environment_overrides: Mapping[str, str] = field(default_factory=dict)

    #: Trait names that become fields here. The spawner reads exactly these.
    @classmethod
    def trait_names(cls) -> tuple[str, ...]:
        derived = ("launch", "environment_overrides")
        fields = (f.name for f in dataclasses.fields(cls) if f.name not in derived)
        return (*fields, "launch_type")

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> SpawnSettings:
        """Build from a mapping of trait name -> value (the spawner's traits, profile applied)."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "launch" or f.name not in values:
                # A profile's None deletes the key (merge_overrides): for a setting whose
                # default is None (efs_file_system_id) that means "none here".
                if f.name in _NONE_MEANS_OFF:
                    kwargs[f.name] = None
                elif f.name in _NONE_MEANS_EMPTY:
                    kwargs[f.name] = _NONE_MEANS_EMPTY[f.name]
                continue
            value = values[f.name]
            if f.name in (
                "task_security_groups",
                "task_subnets",
                "notebook_args",
                "cmd",
                "capacity_fallback",
            ):
                value = tuple(value or ())
            elif f.name == "placement_constraints":
                value = tuple(dict(c) if isinstance(c, Mapping) else c for c in value or ())
            elif f.name in ("task_tags", "environment_overrides", "secrets"):
                value = dict(value or {})
            kwargs[f.name] = value
        if "environment" in values:
            kwargs["environment_overrides"] = {
                str(k): str(v) for k, v in dict(values["environment"] or {}).items()
            }
        kwargs["launch"] = LaunchMode.parse(values["launch_type"])
        settings = cls(**kwargs)
        settings.check()
        return settings

    # ----------------------------------------------------------------------------- checks

    def check(self) -> None:
        """Raise ConfigurationError for the first rule these settings break."""
        for key in ("task_cluster_name", "aws_region", "hub_id"):
            if not getattr(self, key):
                raise ConfigurationError(key, "is required and is empty")
        if not self.task_definition_arn and not self.task_definition_family:
            raise ConfigurationError(
                "task_definition_family",
                "is required (or set c.AWSSpawner.task_definition_arn to one exact revision)",
            )
        if not self.task_container_name:
            raise ConfigurationError(
                "task_container_name",
                "is required: the name of the notebook container in the task definition",
            )
        self._check_network()
        self._check_resources()
        check_secrets(self.secrets)
        if isinstance(self.task_role_arn, str) and "{" in self.task_role_arn:
            RoleTemplate.parse(self.task_role_arn)
        self._check_tags()
        self._check_placement()
        self._check_ports()
        self._check_token_source()
        self._check_storage()
        self._check_fallback()
        if self.notebook_scheme not in ("http", "https"):
            raise ConfigurationError(
                "notebook_scheme", f"must be 'http' or 'https', not {self.notebook_scheme!r}"
            )

    def _check_network(self) -> None:
        launch = self.launch
        if launch.certainly_fargate and not self.task_subnets:
            raise ConfigurationError(
                "task_subnets",
                f"is required for launch_type {launch.describe()}: Fargate "
                "tasks always use awsvpc networking",
            )
        if self.platform_version and not launch.certainly_fargate:
            raise ConfigurationError(
                "platform_version", f"applies only to Fargate, not launch_type {launch.describe()}"
            )

    def _check_resources(self) -> None:
        for key in ("cpu", "memory", "memory_reservation"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigurationError(key, f"must be a positive number, not {value}")
        if (
            self.memory is not None
            and self.memory_reservation is not None
            and self.memory_reservation > self.memory
        ):
            raise ConfigurationError(
                "memory_reservation",
                f"({self.memory_reservation} MiB) cannot exceed "
                f"c.AWSSpawner.memory ({self.memory} MiB)",
            )
        if not self.launch.certainly_fargate:
            return
        if self.cpu is not None and fargate_memory_choices(self.cpu) is None:
            raise ConfigurationError(
                "cpu",
                f"Fargate cannot run a task with {self.cpu} CPU units; choose one of "
                "256, 512, 1024, 2048, 4096, 8192, 16384",
            )
        if (
            self.cpu is not None
            and self.memory is not None
            and self.memory not in (fargate_memory_choices(self.cpu) or ())
        ):
            raise ConfigurationError(
                "memory",
                f"Fargate cannot run {self.memory} MiB with cpu={self.cpu}; "
                f"valid memory for that cpu: {_describe_memory(self.cpu)}",
            )

    def _check_tags(self) -> None:
        if self.propagate_tags and self.propagate_tags not in PROPAGATE_TAGS:
            hint = (
                " (RunTask rejects SERVICE: it applies only to ECS services)"
                if self.propagate_tags == "SERVICE"
                else ""
            )
            raise ConfigurationError(
                "propagate_tags",
                f"must be 'TASK_DEFINITION', 'NONE' or empty, not {self.propagate_tags!r}{hint}",
            )
        if not is_valid_tag_key(self.task_owner_tag_name):
            raise ConfigurationError(
                "task_owner_tag_name",
                f"{self.task_owner_tag_name!r} is not a valid ECS tag key (1-128 letters, "
                "numbers, spaces and _.:/=+-@; no 'aws:' prefix)",
            )
        room = MAX_TAGS - MAX_OWN_TASK_TAGS
        if len(self.task_tags) > room:
            raise ConfigurationError(
                "task_tags",
                f"has {len(self.task_tags)} tags; ECS allows {MAX_TAGS} per task and awsspawner "
                f"sets up to {MAX_OWN_TASK_TAGS} itself, which leaves room for {room}",
            )
        for key, value in self.task_tags.items():
            if not isinstance(key, str) or not is_valid_tag_key(key):
                raise ConfigurationError("task_tags", f"{key!r} is not a valid ECS tag key")
            if key.startswith("awsspawner:") or key == self.task_owner_tag_name:
                raise ConfigurationError(
                    "task_tags", f"{key!r} is set by awsspawner itself and cannot be overridden"
                )
            if not isinstance(value, str) or not is_valid_tag_value(value):
                raise ConfigurationError(
                    "task_tags", f"the value of {key!r} is not a valid ECS tag value"
                )

    def _check_placement(self) -> None:
        if len(self.placement_constraints) > MAX_PLACEMENT_CONSTRAINTS:
            raise ConfigurationError(
                "placement_constraints", f"ECS allows at most {MAX_PLACEMENT_CONSTRAINTS}"
            )
        for index, constraint in enumerate(self.placement_constraints):
            _check_constraint(index, constraint)

    def _check_token_source(self) -> None:
        if self.api_token_source not in ("environment", "s3"):
            raise ConfigurationError(
                "api_token_source", f"must be 'environment' or 's3', not {self.api_token_source!r}"
            )
        if self.api_token_source != FROM_S3:
            return
        if not self.api_token_bucket:
            raise ConfigurationError("api_token_bucket", "is required with api_token_source 's3'")
        if self.api_token_key_prefix.startswith("/") or "//" in self.api_token_key_prefix:
            raise ConfigurationError(
                "api_token_key_prefix",
                f"{self.api_token_key_prefix!r} is not a clean S3 key prefix (no leading '/', "
                "no empty segments)",
            )
        if self.platform_version and _version(self.platform_version) < (1, 4, 0):
            raise ConfigurationError(
                "platform_version",
                f"{self.platform_version!r} cannot read environment files "
                "(api_token_source 's3'); Fargate needs 1.4.0 or later (or LATEST)",
            )

    def _check_storage(self) -> None:
        if self.node_home_directory:
            self._check_node_homes()
        if not self.efs_file_system_id:
            return
        if self.node_home_directory:
            raise ConfigurationError(
                "node_home_directory",
                "and c.AWSSpawner.efs_file_system_id are both set: a home is on EFS or on the "
                "node, not both; set one of them to None (in a profile, for that profile)",
            )
        if not _FILE_SYSTEM_ID.match(self.efs_file_system_id):
            raise ConfigurationError(
                "efs_file_system_id",
                f"{self.efs_file_system_id!r} is not an EFS file system id (fs- and 8 to 40 "
                "hex digits, or its ARN)",
            )
        if self.launch.is_external:
            raise ConfigurationError(
                "efs_file_system_id",
                "ECS Anywhere (launch_type EXTERNAL) tasks cannot mount EFS volumes; set "
                "efs_file_system_id to None for this launch type (in its profile)",
            )
        if self.platform_version and _version(self.platform_version) < (1, 4, 0):
            raise ConfigurationError(
                "platform_version",
                f"{self.platform_version!r} cannot mount EFS homes (efs_file_system_id); "
                "Fargate needs 1.4.0 or later (or LATEST)",
            )
        if self.efs_iam_authorization and not self.efs_transit_encryption:
            raise ConfigurationError(
                "efs_transit_encryption",
                "must be True while c.AWSSpawner.efs_iam_authorization is True (ECS mounts "
                "with IAM authorization only over TLS)",
            )
        self._check_mount_path()
        HomeTemplate.parse(self.efs_home_directory)

    def _check_node_homes(self) -> None:
        launch = self.launch
        if launch.launch_type == "FARGATE" or launch.providers & FARGATE_PROVIDERS:
            raise ConfigurationError(
                "node_home_directory",
                f"{launch.plain_name()} has no node disk to keep homes on; set "
                "node_home_directory to None for this launch type (in its profile), or use "
                "c.AWSSpawner.efs_file_system_id",
            )
        self._check_mount_path()
        HomeTemplate.parse_node(self.node_home_directory or "")

    def _check_mount_path(self) -> None:
        path = self.home_mount_path
        if not path.startswith("/") or path.rstrip("/") == "" or "\0" in path:
            raise ConfigurationError(
                "home_mount_path", f"must be an absolute path other than '/', not {path!r}"
            )

    @property
    def task_secrets(self) -> TaskSecrets | None:
        """The secrets the notebook container gets through its revision, or None."""
        return TaskSecrets.of(self.secrets)

    @property
    def node_home_template(self) -> HomeTemplate | None:
        """The checked node home template, or None without node homes."""
        if not self.node_home_directory:
            return None
        return HomeTemplate.parse_node(self.node_home_directory)

    @property
    def home_template(self) -> HomeTemplate | None:
        """The checked home directory template, or None without EFS homes."""
        if not self.efs_file_system_id:
            return None
        return HomeTemplate.parse(self.efs_home_directory)

    def _check_fallback(self) -> None:
        for index, settings in enumerate(self.fallbacks()):
            launch = settings.launch
            where = f"item {index} ({launch.plain_name()})"
            networks = {self.launch.network, launch.network}
            if networks == {"awsvpc", "no-awsvpc"}:
                raise ConfigurationError(
                    "capacity_fallback",
                    f"{where} needs another network configuration than launch_type "
                    f"{self.launch.plain_name()} (Fargate tasks always use awsvpc, ECS "
                    "Anywhere tasks never do); fall back within one of them",
                )
            try:
                settings.check()
            except ConfigurationError as exc:
                raise ConfigurationError(
                    "capacity_fallback", f"{where} cannot run with these settings: {exc}"
                ) from None

    def fallbacks(self) -> list[SpawnSettings]:
        """These settings once for each ``capacity_fallback`` entry, in order: the same spawn
        on another launch type or strategy (no further fallback of their own)."""
        found = []
        for index, value in enumerate(self.capacity_fallback):
            try:
                launch = LaunchMode.parse(value)
            except ConfigurationError as exc:
                raise ConfigurationError(
                    "capacity_fallback", f"item {index}: {exc.problem}"
                ) from None
            # A Fargate platform version means nothing elsewhere: not carried over.
            version = self.platform_version if launch.certainly_fargate else ""
            found.append(
                dataclasses.replace(
                    self, launch=launch, capacity_fallback=(), platform_version=version
                )
            )
        return found

    def _check_ports(self) -> None:
        for key in ("port_range_start", "port_range_end"):
            value = getattr(self, key)
            if not 1 <= value <= 65535:
                raise ConfigurationError(key, f"must be a TCP port (1-65535), not {value}")
        if self.port_range_start > self.port_range_end:
            raise ConfigurationError(
                "port_range_start",
                f"({self.port_range_start}) is above "
                f"c.AWSSpawner.port_range_end ({self.port_range_end})",
            )

    # --------------------------------------------------------------------------- derived

    @property
    def sends_placement_constraints(self) -> bool:
        """Fargate rejects placement constraints; they apply to EC2 and EXTERNAL tasks."""
        return bool(self.placement_constraints) and not self.launch.certainly_fargate

    @property
    def sends_public_ip(self) -> bool:
        """ECS refuses ``assignPublicIp: ENABLED`` except on Fargate: elsewhere DISABLED is
        sent whatever ``assign_public_ip`` says (and :meth:`adjustments` says so)."""
        return self.assign_public_ip and not self.launch.refuses_public_ip

    def adjustments(self) -> list[str]:
        """What these settings ask for that awsspawner will not send as asked, and what may
        fail at ECS: one sentence each, for the hub's log when it starts."""
        notes = []
        launch = self.launch.describe()
        if self.placement_constraints and not self.sends_placement_constraints:
            notes.append(
                f"c.AWSSpawner.placement_constraints is not sent for launch_type {launch}: "
                "Fargate does not support placement constraints"
            )
        # EXTERNAL tasks have no awsvpc at all, so nothing about public IPs to say there.
        if self.assign_public_ip and self.launch.refuses_public_ip and not self.launch.is_external:
            notes.append(
                f"c.AWSSpawner.assign_public_ip = True is sent as DISABLED for launch_type "
                f"{launch}: ECS gives public IPs to Fargate tasks only"
            )
        if self.placement_constraints and self.launch.uses_cluster_default:
            notes.append(
                "c.AWSSpawner.placement_constraints are sent with the cluster's default "
                "capacity provider strategy: ECS refuses them if that strategy places tasks "
                "on Fargate (set c.AWSSpawner.launch_type to say which)"
            )
        if self.assign_public_ip and self.launch.uses_cluster_default:
            notes.append(
                "c.AWSSpawner.assign_public_ip = True is sent with the cluster's default "
                "capacity provider strategy: ECS refuses the spawn if that strategy places "
                "tasks on EC2 capacity providers (set c.AWSSpawner.launch_type to say which)"
            )
        return notes


def _version(text: str) -> tuple[int, ...]:
    """'1.4.0' -> (1, 4, 0); 'LATEST' (or anything else) sorts after every number."""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (10**9,)


def _describe_memory(cpu: int) -> str:
    choices = fargate_memory_choices(cpu) or ()
    if len(choices) <= 4:
        return ", ".join(map(str, choices))
    return f"{choices[0]} to {choices[-1]} in steps of {choices[1] - choices[0]}"


def _check_constraint(index: int, constraint: Any) -> None:
    where = f"item {index}"
    if not isinstance(constraint, Mapping):
        raise ConfigurationError(
            "placement_constraints",
            f"{where} must be a dict like {{'type': 'memberOf', 'expression': 'attribute:...'}}",
        )
    kind = constraint.get("type")
    if kind not in PLACEMENT_CONSTRAINT_TYPES:
        raise ConfigurationError(
            "placement_constraints",
            f"{where} has unknown type {kind!r}; ECS knows 'memberOf' and 'distinctInstance'",
        )
    unknown = set(constraint) - {"type", "expression"}
    if unknown:
        raise ConfigurationError(
            "placement_constraints", f"{where} has unknown keys {sorted(unknown)}"
        )
    expression = constraint.get("expression")
    if kind == "memberOf" and (not isinstance(expression, str) or not expression.strip()):
        raise ConfigurationError(
            "placement_constraints", f"{where}: a memberOf constraint needs an 'expression'"
        )
    if kind == "distinctInstance" and expression:
        raise ConfigurationError(
            "placement_constraints", f"{where}: a distinctInstance constraint takes no expression"
        )
