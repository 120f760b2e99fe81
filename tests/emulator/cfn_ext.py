"""CloudFormation as the reference stack (deploy/jupyterhub-ecs.yaml) meets it in moto 5.2.5.

moto accepts the stack's resource types but builds some of them only partly, and a partly
built resource would prove nothing to the doctor that is run against it:

* ``AWS::ECS::Cluster`` drops capacity providers, the default strategy, settings and tags;
* ``AWS::ECS::TaskDefinition`` drops network mode, compatibilities, cpu, the roles, the
  runtime platform and tags, and camel-cases keys ECS spells differently (``EFSVolumeConfiguration``
  becomes ``eFSVolumeConfiguration``, ``FilesystemId`` stays ``filesystemId`` where ECS says
  ``fileSystemId``, ``IAM`` becomes ``iAM``);
* ``AWS::ECS::Service`` drops the launch type, network configuration, load balancers and
  service registries;
* ``AWS::EFS::FileSystem`` has no ``Fn::GetAtt`` (``Arn``, ``FileSystemId``), and
  ``AWS::EFS::AccessPoint`` none either, nor a ``Ref`` (CloudFormation's is the access point id);
* ``AWS::ServiceDiscovery::PrivateDnsNamespace`` / ``Service`` are not built at all (moto warns
  and skips them, so ``!GetAtt HubDiscovery.Arn`` would fail).

Each handler here builds the resource through moto's own backend with every property moto's
model can keep (a service's deployment configuration and health check grace period it
cannot; tests read those from the template), after checking the ECS request those
properties stand for as strict mode checks requests (botocore's input shape, ECS's rules).
What CloudFormation itself checks (the resource specification) is cfn-lint's job in CI, not
the emulator's.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.core.common_models import CloudFormationModel
from moto.ecs import models as ecs_models
from moto.efs import models as efs_models
from moto.servicediscovery.models import servicediscovery_backends

from .strict import (
    SWITCH,
    StrictError,
    check_register_task_definition,
    check_strategy,
    validate_shape,
)

#: Keys whose ECS (JSON) spelling is not the CloudFormation key with a lower-case first letter.
ECS_KEY_SPELLING = {
    "EFSVolumeConfiguration": "efsVolumeConfiguration",
    "FilesystemId": "fileSystemId",
    "IAM": "iam",
    "FSxWindowsFileServerVolumeConfiguration": "fsxWindowsFileServerVolumeConfiguration",
}
#: Properties whose values are maps of the user's own keys (never re-spelled).
FREE_FORM_MAPS = {"Options", "DockerLabels", "DriverOpts", "Labels", "SecretOptions"}


def ecs_json(value: Any) -> Any:
    """A CloudFormation ECS property as ECS's JSON API spells it."""
    if isinstance(value, list):
        return [ecs_json(item) for item in value]
    if not isinstance(value, dict):
        return value
    spelled = {}
    for key, item in value.items():
        name = ECS_KEY_SPELLING.get(key, key[:1].lower() + key[1:])
        spelled[name] = dict(item) if key in FREE_FORM_MAPS else ecs_json(item)
    return spelled


def ecs_tags(properties: dict[str, Any]) -> list[dict[str, str]] | None:
    tags = properties.get("Tags")
    return [{"key": t["Key"], "value": t["Value"]} for t in tags] if tags else None


#: Top-level properties CloudFormation names unlike the ECS operation's parameter.
TOP_LEVEL_SPELLING = {"CreateCluster": {"ClusterSettings": "settings"}}


def ecs_request(
    resource: str, operation: str, properties: dict[str, Any], **names: Any
) -> dict[str, Any]:
    """The ECS API request resource ``resource``'s properties stand for (``names``: properties
    ECS calls otherwise, or values CloudFormation resolved to objects), checked as strict mode
    checks requests: botocore's input shape for ``operation``, and ECS's own rules.
    CloudFormation calls ECS with this request; one ECS would refuse (or a property our
    spelling got wrong) fails CreateStack with a ValidationError naming the resource (real
    CloudFormation would mark it CREATE_FAILED; moto has no such state)."""
    renamed = TOP_LEVEL_SPELLING.get(operation, {})
    given = {renamed.get(k, k): v for k, v in properties.items() if k != "Tags"}
    request = {key: value for key, value in ecs_json(given).items() if key not in names}
    request.update({k: v for k, v in names.items() if v is not None})
    if "Tags" in properties:
        request["tags"] = ecs_tags(properties)
    if not SWITCH.enabled:
        return request
    try:
        validate_shape("ecs", operation, request)
        if operation == "RegisterTaskDefinition":
            check_register_task_definition(request)
        strategy = request.get("capacityProviderStrategy") or request.get(
            "defaultCapacityProviderStrategy"
        )
        if strategy:
            check_strategy(strategy)
    except StrictError as refused:
        raise ValidationError(message=f"{resource} ({operation}): {refused.message}") from None
    return request


def _ecs(account_id: str, region_name: str) -> Any:
    return ecs_models.ecs_backends[account_id][region_name]


def create_cluster(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    request = ecs_request(
        resource_name,
        "CreateCluster",
        properties,
        clusterName=properties.get("ClusterName", resource_name),
    )
    return _ecs(account_id, region_name).create_cluster(
        cluster_name=request["clusterName"],
        tags=request.get("tags"),
        cluster_settings=request.get("settings"),
        configuration=request.get("configuration"),
        capacity_providers=request.get("capacityProviders"),
        default_capacity_provider_strategy=request.get("defaultCapacityProviderStrategy"),
    )


def create_task_definition(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    request = ecs_request(
        resource_name,
        "RegisterTaskDefinition",
        properties,
        family=properties.get("Family", resource_name),
    )
    return _ecs(account_id, region_name).register_task_definition(
        family=request["family"],
        container_definitions=request.get("containerDefinitions", []),
        volumes=request.get("volumes", []),
        network_mode=request.get("networkMode"),
        tags=request.get("tags"),
        placement_constraints=request.get("placementConstraints"),
        requires_compatibilities=request.get("requiresCompatibilities"),
        cpu=request.get("cpu"),
        memory=request.get("memory"),
        task_role_arn=request.get("taskRoleArn"),
        execution_role_arn=request.get("executionRoleArn"),
        runtime_platform=request.get("runtimePlatform"),
        ephemeral_storage=request.get("ephemeralStorage"),
    )


def create_service(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    cluster = properties.get("Cluster", "default")
    definition = properties["TaskDefinition"]
    request = ecs_request(
        resource_name,
        "CreateService",
        properties,
        cluster=getattr(cluster, "name", cluster),
        serviceName=properties.get("ServiceName", resource_name),
        taskDefinition=getattr(definition, "arn", definition),
    )
    return _ecs(account_id, region_name).create_service(
        request["cluster"],
        request["serviceName"],
        request.get("desiredCount"),
        task_definition_str=request["taskDefinition"],
        load_balancers=request.get("loadBalancers"),
        tags=request.get("tags"),
        launch_type=request.get("launchType"),
        service_registries=request.get("serviceRegistries"),
        platform_version=request.get("platformVersion"),
        propagate_tags=request.get("propagateTags", "NONE"),
        network_configuration=request.get("networkConfiguration"),
    )


def cfn_attributes(getters: dict[str, Callable[[Any], Any]]) -> Callable[[Any, str], str]:
    """A ``get_cfn_attribute`` answering ``Fn::GetAtt`` for the names in ``getters``."""

    def get_cfn_attribute(self: Any, attribute_name: str) -> str:
        if attribute_name not in getters:
            raise UnformattedGetAttTemplateException()
        return str(getters[attribute_name](self))

    return get_cfn_attribute


class CloudMapResource:
    """What the two Cloud Map resources share: a moto model (``self.model``), its id as the
    physical id (CloudFormation's ``Ref``), and the ``Fn::GetAtt`` names of ``GETTERS``.
    A mixin, not a CloudFormationModel: moto registers every direct subclass of that by its
    ``cloudformation_type``, which this has none of."""

    GETTERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __init__(self, model: Any) -> None:
        self.model = model

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return str(self.model.id)

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.GETTERS

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return cfn_attributes(self.GETTERS)(self, attribute_name)


class PrivateDnsNamespace(CloudMapResource, CloudFormationModel):
    """``AWS::ServiceDiscovery::PrivateDnsNamespace`` through moto's Cloud Map backend."""

    GETTERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "Id": attrgetter("model.id"),
        "Arn": attrgetter("model.arn"),
        "HostedZoneId": lambda self: self.model.dns_properties["HostedZoneId"],
    }

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::PrivateDnsNamespace"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> PrivateDnsNamespace:  # fmt: skip
        properties = cloudformation_json["Properties"]
        backend = servicediscovery_backends[account_id][region_name]
        operation = backend.create_private_dns_namespace(
            name=properties.get("Name", resource_name),
            creator_request_id=resource_name,
            description=properties.get("Description", ""),
            vpc=properties["Vpc"],
            tags=properties.get("Tags", []),
            properties=properties.get("Properties", {}),
        )
        namespace_id = backend.get_operation(operation).targets["NAMESPACE"]
        return cls(backend.namespaces[namespace_id])


class DiscoveryService(CloudMapResource, CloudFormationModel):
    """``AWS::ServiceDiscovery::Service`` through moto's Cloud Map backend."""

    GETTERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "Id": attrgetter("model.id"),
        "Arn": attrgetter("model.arn"),
        "Name": attrgetter("model.name"),
    }

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::Service"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> DiscoveryService:  # fmt: skip
        properties = cloudformation_json["Properties"]
        backend = servicediscovery_backends[account_id][region_name]
        service = backend.create_service(
            name=properties.get("Name", resource_name),
            namespace_id=properties["NamespaceId"],
            creator_request_id=resource_name,
            description=properties.get("Description", ""),
            dns_config=properties.get("DnsConfig"),
            health_check_config=properties.get("HealthCheckConfig"),
            health_check_custom_config=properties.get("HealthCheckCustomConfig"),
            tags=properties.get("Tags", []),
            service_type=properties.get("Type", "DNS_HTTP"),
        )
        return cls(service)


def install() -> None:
    """Patch moto's CloudFormation handlers (idempotent; before the first stack is parsed)."""
    ecs_models.Cluster.create_from_cloudformation_json = classmethod(create_cluster)
    ecs_models.TaskDefinition.create_from_cloudformation_json = classmethod(create_task_definition)
    ecs_models.Service.create_from_cloudformation_json = classmethod(create_service)
    efs_models.FileSystem.get_cfn_attribute = cfn_attributes(
        {"Arn": attrgetter("file_system_arn"), "FileSystemId": attrgetter("file_system_id")}
    )
    efs_models.AccessPoint.get_cfn_attribute = cfn_attributes(
        {"Arn": attrgetter("access_point_arn"), "AccessPointId": attrgetter("access_point_id")}
    )
    efs_models.AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)
    # The two Cloud Map classes above registered themselves by subclassing CloudFormationModel;
    # moto's type map is cached at its first use, which must come after this import.
    from moto.cloudformation import parsing

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
