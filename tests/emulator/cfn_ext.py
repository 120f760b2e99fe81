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

Each handler here builds the resource through moto's own backend with every property the
template gives. What CloudFormation itself checks (the resource specification) is cfn-lint's
job in CI, not the emulator's.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.ecs import models as ecs_models
from moto.efs import models as efs_models
from moto.servicediscovery.models import servicediscovery_backends

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


def _ecs(account_id: str, region_name: str) -> Any:
    return ecs_models.ecs_backends[account_id][region_name]


def create_cluster(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    return _ecs(account_id, region_name).create_cluster(
        cluster_name=properties.get("ClusterName", resource_name),
        tags=ecs_tags(properties),
        cluster_settings=ecs_json(properties.get("ClusterSettings")),
        configuration=ecs_json(properties.get("Configuration")),
        capacity_providers=properties.get("CapacityProviders"),
        default_capacity_provider_strategy=ecs_json(
            properties.get("DefaultCapacityProviderStrategy")
        ),
    )


def create_task_definition(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    return _ecs(account_id, region_name).register_task_definition(
        family=properties.get("Family", resource_name),
        container_definitions=ecs_json(properties.get("ContainerDefinitions", [])),
        volumes=ecs_json(properties.get("Volumes", [])),
        network_mode=properties.get("NetworkMode"),
        tags=ecs_tags(properties),
        placement_constraints=ecs_json(properties.get("PlacementConstraints")),
        requires_compatibilities=properties.get("RequiresCompatibilities"),
        cpu=properties.get("Cpu"),
        memory=properties.get("Memory"),
        task_role_arn=properties.get("TaskRoleArn"),
        execution_role_arn=properties.get("ExecutionRoleArn"),
        runtime_platform=ecs_json(properties.get("RuntimePlatform")),
        ephemeral_storage=ecs_json(properties.get("EphemeralStorage")),
    )


def create_service(
    cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
    **kwargs: Any,
) -> Any:  # fmt: skip
    properties = cloudformation_json["Properties"]
    cluster = properties.get("Cluster", "default")
    definition = properties["TaskDefinition"]
    return _ecs(account_id, region_name).create_service(
        getattr(cluster, "name", cluster),
        properties.get("ServiceName", resource_name),
        properties.get("DesiredCount"),
        task_definition_str=getattr(definition, "arn", definition),
        load_balancers=ecs_json(properties.get("LoadBalancers")),
        tags=ecs_tags(properties),
        launch_type=properties.get("LaunchType"),
        service_registries=ecs_json(properties.get("ServiceRegistries")),
        platform_version=properties.get("PlatformVersion"),
        propagate_tags=properties.get("PropagateTags", "NONE"),
        network_configuration=ecs_json(properties.get("NetworkConfiguration")),
    )


def file_system_attribute(self: Any, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return str(self.file_system_arn)
    if attribute_name == "FileSystemId":
        return str(self.file_system_id)
    raise UnformattedGetAttTemplateException()


def access_point_attribute(self: Any, attribute_name: str) -> str:
    if attribute_name == "Arn":
        return str(self.access_point_arn)
    if attribute_name == "AccessPointId":
        return str(self.access_point_id)
    raise UnformattedGetAttTemplateException()


class PrivateDnsNamespace(CloudFormationModel):
    """``AWS::ServiceDiscovery::PrivateDnsNamespace`` through moto's Cloud Map backend."""

    def __init__(self, namespace: Any) -> None:
        self.namespace = namespace

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::PrivateDnsNamespace"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return str(self.namespace.id)

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

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "HostedZoneId")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return str(self.namespace.id)
        if attribute_name == "Arn":
            return str(self.namespace.arn)
        if attribute_name == "HostedZoneId":
            return str(self.namespace.dns_properties["HostedZoneId"])
        raise UnformattedGetAttTemplateException()


class DiscoveryService(CloudFormationModel):
    """``AWS::ServiceDiscovery::Service`` through moto's Cloud Map backend."""

    def __init__(self, service: Any) -> None:
        self.service = service

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ServiceDiscovery::Service"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return str(self.service.id)

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

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Id", "Arn", "Name")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return str(self.service.id)
        if attribute_name == "Arn":
            return str(self.service.arn)
        if attribute_name == "Name":
            return str(self.service.name)
        raise UnformattedGetAttTemplateException()


def install() -> None:
    """Patch moto's CloudFormation handlers (idempotent; before the first stack is parsed)."""
    ecs_models.Cluster.create_from_cloudformation_json = classmethod(create_cluster)
    ecs_models.TaskDefinition.create_from_cloudformation_json = classmethod(create_task_definition)
    ecs_models.Service.create_from_cloudformation_json = classmethod(create_service)
    efs_models.FileSystem.get_cfn_attribute = file_system_attribute
    efs_models.AccessPoint.get_cfn_attribute = access_point_attribute
    efs_models.AccessPoint.physical_resource_id = property(lambda self: self.access_point_id)
    # The two Cloud Map classes above registered themselves by subclassing CloudFormationModel;
    # moto's type map is cached at its first use, which must come after this import.
    from moto.cloudformation import parsing

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
