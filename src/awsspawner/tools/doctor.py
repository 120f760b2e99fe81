"""``awsspawner doctor``: check a hub's configuration against the AWS account, read-only.

For the configuration and each of its profiles it asks AWS what a spawn would need, and
reports one line per check: OK, WARN (cannot be known from here, or works with a caveat) or
FAIL (a spawn would fail), what it found, how to fix it, and the ``c.AWSSpawner.<key>``
involved. Nothing is created, changed or read that holds a secret value (DescribeSecret and
DescribeParameters, never GetSecretValue or GetParameter).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import AWSError, aws_call
from ..launch.spawn_settings import SpawnSettings, fargate_memory_choices
from ..launch.token_file import FROM_S3
from .cluster_query import INSTANCE_ID, ExpressionError, matches
from .hub_config import HubConfig

__all__ = ["Check", "Doctor", "render"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    status: str
    check: str  # what was checked, in a few words
    found: str  # what the doctor found
    fix: str = ""  # how to fix it (FAIL, WARN)
    key: str = ""  # the c.AWSSpawner.<key> involved
    profile: str = ""  # the profile's slug ("" for the configuration itself)

    def line(self) -> str:
        where = f"[{self.profile}] " if self.profile else ""
        fix = f" -> {self.fix}" if self.fix else ""
        key = f" (c.AWSSpawner.{self.key})" if self.key else ""
        return f"{self.status:4} {where}{self.check}: {self.found}{fix}{key}"


def render(checks: Sequence[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps([asdict(c) for c in checks], indent=2)
    return "\n".join(c.line() for c in checks)


def _code(exc: Exception) -> str:
    if isinstance(exc, AWSError):
        return exc.code or type(exc).__name__
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


class Doctor:
    """Runs every check for one configuration (see the module docstring)."""

    def __init__(self, config: HubConfig, *, hub_role_arn: str = "") -> None:
        self.config = config
        self.hub_role_arn = hub_role_arn
        self.checks: list[Check] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._spawner = config.spawner("awsspawner-doctor")

    def add(self, check: Check) -> None:
        # The same finding for several profiles is said once, for the first of them.
        key = (check.status, check.check, check.found)
        if key not in self._seen:
            self._seen.add(key)
            self.checks.append(check)

    async def client(self, service: str, region: str) -> Any:
        return await self._spawner.aws_client(service, region)

    async def call(self, service: str, region: str, operation: str, **params: Any) -> Any:
        client = await self.client(service, region)
        method: Callable[..., Awaitable[Any]] = getattr(client, _snake(operation))
        return await aws_call(operation, method(**params))

    async def run(self, profiles: Sequence[str]) -> list[Check]:
        targets = []
        for profile in profiles:
            settings = await self.config.settings(self._spawner, profile)
            targets.append((profile, settings))
        region = targets[0][1].aws_region
        if not await self._identity(region):
            return self.checks
        for profile, settings in targets:
            await self._cluster(profile, settings)
            description = await self._task_definition(profile, settings)
            if settings.launch.network != "no-awsvpc" and settings.task_subnets:
                await self._network(profile, settings, description)
            await self._roles(profile, settings, description)
            if settings.launch.is_external:
                await self._anywhere(profile, settings)
            await self._storage(profile, settings)
        await self._hub_role(region)
        return self.checks

    # ----------------------------------------------------------------------- identity

    async def _identity(self, region: str) -> bool:
        try:
            who = await self.call("sts", region, "GetCallerIdentity")
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "credentials",
                    f"AWS answered {_code(exc)}: {exc}",
                    "give this shell AWS credentials (environment, profile or role)",
                )
            )
            return False
        self.add(
            Check(OK, "credentials", f"account {who['Account']} as {who['Arn']}, region {region}")
        )
        return True

    # ------------------------------------------------------------------------ cluster

    async def _cluster(self, profile: str, settings: SpawnSettings) -> None:
        name = settings.task_cluster_name
        answer = await self.call("ecs", settings.aws_region, "DescribeClusters", clusters=[name])
        found = [c for c in answer.get("clusters") or [] if c.get("status") == "ACTIVE"]
        if not found:
            self.add(
                Check(
                    FAIL,
                    "cluster",
                    f"{name} does not exist or is not ACTIVE",
                    "create it, or name an existing one",
                    "task_cluster_name",
                    profile,
                )
            )
            return
        cluster = found[0]
        self.add(Check(OK, "cluster", f"{name} is ACTIVE", profile=profile))
        attached = set(cluster.get("capacityProviders") or [])
        needed = set(settings.launch.providers)
        for fallback in settings.fallbacks():
            needed |= set(fallback.launch.providers)
        missing = sorted(needed - attached)
        if missing:
            self.add(
                Check(
                    FAIL,
                    "capacity providers",
                    f"{', '.join(missing)} not attached to {name} (attached: "
                    f"{', '.join(sorted(attached)) or 'none'})",
                    f"aws ecs put-cluster-capacity-providers --cluster {name} "
                    f"--capacity-providers {' '.join(sorted(attached | needed))} "
                    "--default-capacity-provider-strategy ...",
                    "launch_type",
                    profile,
                )
            )
        elif needed:
            self.add(
                Check(
                    OK,
                    "capacity providers",
                    f"{', '.join(sorted(needed))} attached to {name}",
                    profile=profile,
                )
            )
        if settings.launch.uses_cluster_default and not cluster.get(
            "defaultCapacityProviderStrategy"
        ):
            self.add(
                Check(
                    FAIL,
                    "launch type",
                    f"none set, and {name} has no default capacity provider strategy",
                    "set c.AWSSpawner.launch_type",
                    "launch_type",
                    profile,
                )
            )

    # ---------------------------------------------------------------- task definition

    async def _task_definition(
        self, profile: str, settings: SpawnSettings
    ) -> dict[str, Any] | None:
        name = settings.task_definition_arn or settings.task_definition_family
        key = "task_definition_arn" if settings.task_definition_arn else "task_definition_family"
        try:
            answer = await self.call(
                "ecs", settings.aws_region, "DescribeTaskDefinition", taskDefinition=name
            )
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "task definition",
                    f"{name}: {_code(exc)}",
                    "register it, or name an existing family or revision",
                    key,
                    profile,
                )
            )
            return None
        description: dict[str, Any] = answer["taskDefinition"]
        arn = description["taskDefinitionArn"]
        if description.get("status") != "ACTIVE":
            self.add(
                Check(
                    FAIL,
                    "task definition",
                    f"{arn} is {description.get('status')}",
                    "register a new revision",
                    key,
                    profile,
                )
            )
            return description
        problems = []
        names = [c.get("name") for c in description.get("containerDefinitions") or []]
        if settings.task_container_name not in names:
            self.add(
                Check(
                    FAIL,
                    "notebook container",
                    f"{arn} has no container {settings.task_container_name!r} "
                    f"(it has {', '.join(map(repr, names))})",
                    "set it to the notebook container's name",
                    "task_container_name",
                    profile,
                )
            )
        network = description.get("networkMode") or "bridge"
        launch = settings.launch
        if launch.certainly_fargate and network != "awsvpc":
            problems.append(f"network mode {network} (Fargate needs awsvpc)")
        if launch.is_external and network == "awsvpc":
            problems.append("network mode awsvpc (ECS Anywhere cannot use it)")
        compatible = set(description.get("requiresCompatibilities") or [])
        wanted = "FARGATE" if launch.certainly_fargate else launch.launch_type
        if wanted and compatible and wanted not in compatible:
            problems.append(f"requiresCompatibilities {sorted(compatible)} without {wanted}")
        if launch.certainly_fargate:
            cpu = settings.cpu if settings.cpu is not None else description.get("cpu")
            memory = settings.memory if settings.memory is not None else description.get("memory")
            choices = fargate_memory_choices(int(cpu)) if cpu else None
            if not cpu or not memory or not choices or int(memory) not in choices:
                problems.append(f"cpu {cpu} / memory {memory}, a size Fargate does not run")
        if problems:
            self.add(
                Check(
                    FAIL,
                    "task definition",
                    f"{arn}: " + "; ".join(problems),
                    "register a revision that fits the launch type (or change the profile)",
                    key,
                    profile,
                )
            )
        elif settings.task_container_name in names:
            self.add(
                Check(OK, "task definition", f"{arn} fits {launch.plain_name()}", profile=profile)
            )
        return description

    # ------------------------------------------------------------------------ network

    async def _network(
        self, profile: str, settings: SpawnSettings, description: dict[str, Any] | None
    ) -> None:
        region = settings.aws_region
        vpcs: dict[str, str] = {}
        try:
            subnets = await self.call(
                "ec2", region, "DescribeSubnets", SubnetIds=list(settings.task_subnets)
            )
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "subnets",
                    f"{', '.join(settings.task_subnets)}: {_code(exc)}",
                    "name subnets of this account and region",
                    "task_subnets",
                    profile,
                )
            )
            return
        for subnet in subnets.get("Subnets") or []:
            vpcs[subnet["SubnetId"]] = subnet["VpcId"]
        groups: list[dict[str, Any]] = []
        if settings.task_security_groups:
            try:
                answer = await self.call(
                    "ec2",
                    region,
                    "DescribeSecurityGroups",
                    GroupIds=list(settings.task_security_groups),
                )
                groups = list(answer.get("SecurityGroups") or [])
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "security groups",
                        f"{', '.join(settings.task_security_groups)}: {_code(exc)}",
                        "name security groups of this account and region",
                        "task_security_groups",
                        profile,
                    )
                )
                return
        for group in groups:
            vpcs[group["GroupId"]] = group["VpcId"]
        if len(set(vpcs.values())) > 1:
            self.add(
                Check(
                    FAIL,
                    "subnets and security groups",
                    "not in one VPC: " + ", ".join(f"{k} in {v}" for k, v in sorted(vpcs.items())),
                    "use subnets and security groups of the same VPC",
                    "task_subnets",
                    profile,
                )
            )
            return
        self.add(
            Check(
                OK,
                "subnets and security groups",
                f"all in {next(iter(vpcs.values()), '?')}",
                profile=profile,
            )
        )
        port = int(self._spawner.port)
        allowed = any(
            permission.get("IpProtocol") == "-1"
            or permission.get("FromPort", 0) <= port <= permission.get("ToPort", -1)
            for group in groups
            for permission in group.get("IpPermissions") or []
        )
        if not allowed:
            self.add(
                Check(
                    WARN,
                    "notebook port",
                    f"no inbound rule of the security groups admits "
                    f"port {port}: the hub cannot reach servers unless it is inside them",
                    f"allow TCP {port} from the hub's security group",
                    "task_security_groups",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    WARN,
                    "notebook port",
                    f"an inbound rule admits port {port}; whether "
                    "the hub's address is among its sources cannot be known from here",
                    profile=profile,
                )
            )

    # --------------------------------------------------------------------------- roles

    async def _roles(
        self, profile: str, settings: SpawnSettings, description: dict[str, Any] | None
    ) -> None:
        roles = []
        task_role = settings.task_role_arn
        if callable(task_role) or (isinstance(task_role, str) and "{" in task_role):
            self.add(
                Check(
                    WARN,
                    "task role",
                    "one per user (a template or a function): each is checked at its user's spawn",
                    profile=profile,
                )
            )
        elif task_role:
            roles.append(("task role", task_role, "task_role_arn"))
        execution = settings.execution_role_arn or (description or {}).get("executionRoleArn")
        if execution:
            roles.append(("execution role", execution, "execution_role_arn"))
        elif settings.secrets or settings.api_token_source == FROM_S3:
            self.add(
                Check(
                    FAIL,
                    "execution role",
                    "none, and secrets or token files need one",
                    "set it",
                    "execution_role_arn",
                    profile,
                )
            )
        for what, arn, key in roles:
            name = arn.rsplit("/", 1)[-1]
            try:
                await self.call("iam", settings.aws_region, "GetRole", RoleName=name)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        what,
                        f"{arn}: {_code(exc)}",
                        "create it, or fix the ARN",
                        key,
                        profile,
                    )
                )
            else:
                self.add(Check(OK, what, f"{arn} exists", profile=profile))

    async def _hub_role(self, region: str) -> None:
        if not self.hub_role_arn:
            self.add(
                Check(
                    WARN,
                    "hub permissions",
                    "not checked",
                    "pass --hub-role-arn ROLE to simulate the hub role's policies",
                )
            )
            return
        actions = [
            "ecs:RunTask",
            "ecs:DescribeTasks",
            "ecs:StopTask",
            "ecs:ListTasks",
            "ecs:DescribeTaskDefinition",
            "ecs:TagResource",
            "iam:PassRole",
        ]
        try:
            answer = await self.call(
                "iam",
                region,
                "SimulatePrincipalPolicy",
                PolicySourceArn=self.hub_role_arn,
                ActionNames=actions,
            )
        except AWSError as exc:
            self.add(
                Check(
                    WARN,
                    "hub permissions",
                    f"simulation not possible ({_code(exc)})",
                    "allow iam:SimulatePrincipalPolicy, or check docs/iam.md by hand",
                )
            )
            return
        denied = [
            r["EvalActionName"]
            for r in answer.get("EvaluationResults") or []
            if r.get("EvalDecision") != "allowed"
        ]
        if denied:
            self.add(
                Check(
                    FAIL,
                    "hub permissions",
                    f"{self.hub_role_arn} may not {', '.join(denied)}",
                    "see the IAM page of the docs",
                )
            )
        else:
            self.add(Check(OK, "hub permissions", f"{self.hub_role_arn} may make every call"))

    # ------------------------------------------------------------------- ECS Anywhere

    async def _anywhere(self, profile: str, settings: SpawnSettings) -> None:
        region, cluster = settings.aws_region, settings.task_cluster_name
        arns = (await self.call("ecs", region, "ListContainerInstances", cluster=cluster)).get(
            "containerInstanceArns"
        ) or []
        nodes = []
        if arns:
            answer = await self.call(
                "ecs",
                region,
                "DescribeContainerInstances",
                cluster=cluster,
                containerInstances=arns[:100],
            )
            nodes = [
                n
                for n in answer.get("containerInstances") or []
                if str(n.get("ec2InstanceId", "")).startswith("mi-")
            ]
        if not nodes:
            self.add(
                Check(
                    FAIL,
                    "ECS Anywhere nodes",
                    f"none registered in {cluster}",
                    "register a machine (ECS Anywhere's install script)",
                    "launch_type",
                    profile,
                )
            )
            return
        ids = [str(n["ec2InstanceId"]) for n in nodes]
        await self._placement(profile, settings, nodes)
        pings: dict[str, str] = {}
        token = None
        while True:
            answer = await self.call(
                "ssm",
                region,
                "DescribeInstanceInformation",
                Filters=[{"Key": "InstanceIds", "Values": ids[:50]}],
                MaxResults=50,
                **({"NextToken": token} if token else {}),
            )
            for item in answer.get("InstanceInformationList") or []:
                pings[str(item["InstanceId"])] = str(item.get("PingStatus") or "")
            token = answer.get("NextToken")
            if not token:
                break
        offline = [i for i in ids if pings.get(i) != "Online"]
        if offline:
            self.add(
                Check(
                    WARN if len(offline) < len(ids) else FAIL,
                    "ECS Anywhere SSM agents",
                    ", ".join(f"{i} {pings.get(i) or 'unknown to SSM'}" for i in offline),
                    "start the SSM agent there (the node address resolvers ask SSM)",
                    "launch_type",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    OK, "ECS Anywhere nodes", f"{len(ids)} registered, SSM online", profile=profile
                )
            )

    async def _placement(
        self, profile: str, settings: SpawnSettings, nodes: Sequence[dict[str, Any]]
    ) -> None:
        expressions = [
            str(c.get("expression") or "")
            for c in settings.placement_constraints
            if c.get("type") == "memberOf"
        ]
        if not expressions:
            return
        fitting = []
        for node in nodes:
            attributes = {
                str(a["name"]): str(a.get("value", "")) for a in node.get("attributes") or []
            }
            attributes[INSTANCE_ID] = str(node.get("ec2InstanceId") or "")
            try:
                if all(matches(e, attributes) for e in expressions):
                    fitting.append(attributes[INSTANCE_ID])
            except ExpressionError as exc:
                self.add(
                    Check(
                        FAIL,
                        "placement constraints",
                        f"cannot be read: {exc}",
                        "write it in ECS's cluster query language",
                        "placement_constraints",
                        profile,
                    )
                )
                return
        if not fitting:
            self.add(
                Check(
                    FAIL,
                    "placement constraints",
                    f"no registered node satisfies {' and '.join(expressions)}",
                    "fix the expression, or give a node the attribute (aws ecs put-attributes)",
                    "placement_constraints",
                    profile,
                )
            )
        else:
            self.add(
                Check(
                    OK,
                    "placement constraints",
                    f"satisfied by {', '.join(fitting)}",
                    profile=profile,
                )
            )

    # ------------------------------------------------------------------------ storage

    async def _storage(self, profile: str, settings: SpawnSettings) -> None:
        region = settings.aws_region
        if settings.efs_file_system_id:
            fs = settings.efs_file_system_id.rsplit("/", 1)[-1]
            try:
                await self.call("efs", region, "DescribeFileSystems", FileSystemId=fs)
                targets = await self.call("efs", region, "DescribeMountTargets", FileSystemId=fs)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "EFS homes",
                        f"{fs}: {_code(exc)}",
                        "name an existing file system",
                        "efs_file_system_id",
                        profile,
                    )
                )
            else:
                zones = {t.get("AvailabilityZoneName") for t in targets.get("MountTargets") or []}
                subnet_zones = set()
                if settings.task_subnets:
                    answer = await self.call(
                        "ec2", region, "DescribeSubnets", SubnetIds=list(settings.task_subnets)
                    )
                    subnet_zones = {s["AvailabilityZone"] for s in answer.get("Subnets") or []}
                missing = sorted(subnet_zones - zones)
                if missing:
                    self.add(
                        Check(
                            FAIL,
                            "EFS mount targets",
                            f"{fs} has none in {', '.join(missing)}, where task_subnets are",
                            "create a mount target in each subnet's zone",
                            "efs_file_system_id",
                            profile,
                        )
                    )
                else:
                    self.add(
                        Check(
                            OK,
                            "EFS homes",
                            f"{fs} reachable from every subnet's zone",
                            profile=profile,
                        )
                    )
        if settings.api_token_source == FROM_S3:
            try:
                await self.call("s3", region, "HeadBucket", Bucket=settings.api_token_bucket)
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "token bucket",
                        f"{settings.api_token_bucket}: {_code(exc)}",
                        "create it, or name yours",
                        "api_token_bucket",
                        profile,
                    )
                )
            else:
                self.add(Check(OK, "token bucket", settings.api_token_bucket, profile=profile))
        for name, arn in sorted(settings.secrets.items()):
            try:
                if ":secretsmanager:" in arn:
                    await self.call(
                        "secretsmanager",
                        region,
                        "DescribeSecret",
                        SecretId=":".join(arn.split(":")[:7]),
                    )
                else:
                    parameter = arn.split(":parameter", 1)[1]
                    answer = await self.call(
                        "ssm",
                        region,
                        "DescribeParameters",
                        ParameterFilters=[{"Key": "Name", "Values": [parameter]}],
                    )
                    if not answer.get("Parameters"):
                        raise AWSError(
                            "no such parameter",
                            operation="DescribeParameters",
                            code="ParameterNotFound",
                        )
            except AWSError as exc:
                self.add(
                    Check(
                        FAIL,
                        "secret",
                        f"{name}: {arn}: {_code(exc)}",
                        "create it, or fix the ARN",
                        "secrets",
                        profile,
                    )
                )
            else:
                self.add(Check(OK, "secret", f"{name} exists", profile=profile))


def _snake(operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))
