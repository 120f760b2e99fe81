"""Checks of ECS: credentials, the cluster and its capacity providers, the task definition,
and the RunTask request each profile would send."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ...errors import AWSError, ConfigurationError
from ...launch.run_task import SpawnIdentity, build_run_task_request
from ...launch.spawn_settings import FARGATE_PROVIDERS, SpawnSettings, fargate_memory_choices
from ...launch.tags import MAX_TAGS
from ...launch.task_definitions import TaskDefinitionInfo
from ...launch.token_file import FROM_S3, token_file_for
from .report import FAIL, OK, Check, Findings, code_of

__all__ = ["EcsChecks"]


class EcsChecks(Findings):
    """Credentials, the cluster, the task definition, and the request a spawn would send."""

    # ----------------------------------------------------------------------- identity

    async def _identity(self, region: str) -> bool:
        try:
            who = await self.call("sts", region, "GetCallerIdentity")
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "credentials",
                    f"AWS answered {code_of(exc)}: {exc}",
                    "give this shell AWS credentials (environment, profile or role)",
                )
            )
            return False
        self.add(
            Check(OK, "credentials", f"account {who['Account']} as {who['Arn']}, region {region}")
        )
        return True

    # ------------------------------------------------------------------------ cluster

    async def _cluster(self, profile: str, settings: SpawnSettings) -> bool:
        """True when the cluster exists (the checks that list its nodes need it)."""
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
            return False
        cluster = found[0]
        self._cluster_arns.add(str(cluster.get("clusterArn") or ""))
        self._cluster_defaults[name] = list(cluster.get("defaultCapacityProviderStrategy") or [])
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
        return True

    # ---------------------------------------------------------------- task definition

    async def _task_definition(
        self, profile: str, settings: SpawnSettings
    ) -> dict[str, Any] | None:
        name = settings.task_definition_arn or settings.task_definition_family
        key = "task_definition_arn" if settings.task_definition_arn else "task_definition_family"
        try:
            answer = await self.call(
                "ecs",
                settings.aws_region,
                "DescribeTaskDefinition",
                taskDefinition=name,
                include=["TAGS"],
            )
        except AWSError as exc:
            self.add(
                Check(
                    FAIL,
                    "task definition",
                    f"{name}: {code_of(exc)}",
                    "register it, or name an existing family or revision",
                    key,
                    profile,
                )
            )
            return None
        description: dict[str, Any] = answer["taskDefinition"]
        arn = description["taskDefinitionArn"]
        self._revision_tags[arn] = list(answer.get("tags") or [])
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

    def _request(self, profile: str, settings: SpawnSettings, description: dict[str, Any]) -> None:
        """The RunTask request this profile would send (for a stand-in user), built by the
        spawner's own code and checked against botocore's model of ECS and ECS's limits."""
        try:
            taskdef = TaskDefinitionInfo.from_description(description)
            settings = dataclasses.replace(
                settings,
                task_role_arn=settings.task_role_arn
                if isinstance(settings.task_role_arn, str) and "{" not in settings.task_role_arn
                else "",
            )
            token_file = None
            if settings.api_token_source == FROM_S3:
                token_file = token_file_for(
                    bucket=settings.api_token_bucket,
                    prefix=settings.api_token_key_prefix,
                    region=settings.aws_region,
                    hub_id=settings.hub_id,
                    username="awsspawner-doctor",
                    server_name="",
                )
            request = build_run_task_request(
                settings,
                taskdef,
                SpawnIdentity("awsspawner-doctor", profile=profile),
                command=["jupyterhub-singleuser"],
                environment={"JUPYTERHUB_SERVICE_PREFIX": "/"},
                client_token="0" * 32,
                token_file=token_file,
            )
            problems = [(text, "") for text in _model_problems("ecs", "RunTask", request)]
            problems += self._ecs_rules(settings, request, taskdef)
        except ConfigurationError as exc:
            self.add(
                Check(FAIL, "RunTask request", exc.problem, "fix that setting", exc.key, profile)
            )
            return
        for text, key in problems:
            self.add(Check(FAIL, "RunTask request", text[:500], "fix the setting", key, profile))
        if not problems:
            self.add(Check(OK, "RunTask request", "valid for ECS's API", profile=profile))

    def _ecs_rules(
        self, settings: SpawnSettings, request: dict[str, Any], taskdef: TaskDefinitionInfo
    ) -> list[tuple[str, str]]:
        """ECS's RunTask rules that depend on the account: where the cluster's default
        strategy sends a task, and the tags propagateTags copies from the revision."""
        strategy = request.get("capacityProviderStrategy") or self._cluster_defaults.get(
            settings.task_cluster_name, []
        )
        providers = {str(item.get("capacityProvider")) for item in strategy}
        fargate = request.get("launchType") == "FARGATE" or (
            not request.get("launchType") and bool(providers) and providers <= FARGATE_PROVIDERS
        )
        problems: list[tuple[str, str]] = []
        awsvpc = (request.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        if awsvpc.get("assignPublicIp") == "ENABLED" and not fargate:
            problems.append(("a public IP outside Fargate, which ECS refuses", "assign_public_ip"))
        if request.get("placementConstraints") and fargate:
            problems.append(
                ("placement constraints on Fargate, which ECS refuses", "placement_constraints")
            )
        tags = {t["key"] for t in request.get("tags") or []}
        if request.get("propagateTags") == "TASK_DEFINITION":
            tags |= {t["key"] for t in self._revision_tags.get(taskdef.arn, [])}
        if len(tags) > MAX_TAGS:
            problems.append(
                (
                    f"{len(tags)} tags with those propagate_tags copies from the revision; ECS "
                    f"allows {MAX_TAGS}",
                    "task_tags",
                )
            )
        return problems


def _model_problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """What botocore's model of ``service`` says is wrong with ``params`` (its validator)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).input_shape
    assert shape is not None  # every ECS operation takes input
    report = ParamValidator().validate(params, shape)
    if not report.has_errors():
        return []
    # botocore's messages quote the bad value, which may be a configured secret: cut it.
    return [re.sub(r", value: .*", " (value not shown)", str(error)) for error in report.errors]
