"""The reference stack (deploy/jupyterhub-ecs.yaml) for tests: read, resolved, deployed.

:func:`deploy` creates it in the emulator's CloudFormation as an administrator would, from the
stack's parameters alone: a VPC with public and private subnets in two zones (loopback
addresses, so tasks started in them are reachable here), the hub's configuration as a
SecureString parameter, then CreateStack. :func:`hub_policy` resolves the hub role's policy with
the example names docs/iam.md uses, so the two can be compared.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "deploy" / "jupyterhub-ecs.yaml"
HUB_CONFIG = REPO / "deploy" / "jupyterhub_config.py"
CONFIG_PARAMETER = "/jupyterhub/config"


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !GetAtt ...) as their long forms."""


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _short_form)


def load_template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader


# ---------------------------------------------------------------------------- resolving

#: What docs/iam.md calls the stack's resources (its example account, region and names).
DOCS_NAMES: dict[str, str] = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "jupyter",
    "Cluster": "notebooks",
    "Cluster.Arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/notebooks",
    "HubId": "jupyterhub",
    "NotebookTaskRole.Arn": "arn:aws:iam::123456789012:role/notebook-task-role",
    "TaskExecutionRole.Arn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "FileSystem.Arn": (
        "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0"
    ),
    "TokenBucket.Arn": "arn:aws:s3:::my-hub-tokens",
}


def resolve(value: Any, names: dict[str, str]) -> Any:
    """``value`` with Ref, Fn::GetAtt and Fn::Sub replaced from ``names`` (KeyError: a
    reference the table lacks, so a new one cannot slip through unresolved)."""
    if isinstance(value, list):
        return [resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return names[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        return names[".".join(value["Fn::GetAtt"])]
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
    return {key: resolve(item, names) for key, item in value.items()}


def hub_policy(
    template: dict[str, Any] | None = None, names: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The hub role's statements, resolved with ``names`` (docs/iam.md's example names by
    default; :meth:`Deployed.names` for a deployed stack's own)."""
    role = (template or load_template())["Resources"]["HubTaskRole"]["Properties"]
    (policy,) = role["Policies"]
    return list(resolve(policy["PolicyDocument"]["Statement"], names or DOCS_NAMES))


# ---------------------------------------------------------------------------- deploying


@dataclass
class Deployed:
    name: str
    outputs: dict[str, str]
    vpc: str
    private_subnets: list[str]
    #: Physical id of each resource, by its logical id in the template.
    resources: dict[str, str]

    def names(self, region: str, account: str) -> dict[str, str]:
        """The values of the references the hub role's policy makes, in this stack."""
        env = self.environment
        cluster = env["AWSSPAWNER_CLUSTER"]

        def role(name: str) -> str:
            return f"arn:aws:iam::{account}:role/{self.resources[name]}"

        return {
            "AWS::Partition": "aws",
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": self.name,
            "Cluster": cluster,
            "Cluster.Arn": f"arn:aws:ecs:{region}:{account}:cluster/{cluster}",
            "HubId": env["AWSSPAWNER_HUB_ID"],
            "NotebookTaskRole.Arn": role("NotebookTaskRole"),
            "TaskExecutionRole.Arn": role("TaskExecutionRole"),
            "FileSystem.Arn": (
                f"arn:aws:elasticfilesystem:{region}:{account}:file-system/"
                + env["AWSSPAWNER_FILE_SYSTEM"]
            ),
            "TokenBucket.Arn": f"arn:aws:s3:::{env['AWSSPAWNER_TOKEN_BUCKET']}",
        }

    @property
    def environment(self) -> dict[str, str]:
        """The hub container's AWSSPAWNER_* variables, from the HubEnvironment output."""
        return dict(word.split("=", 1) for word in self.outputs["HubEnvironment"].split())


def deploy(
    emulator: Any,
    name: str = "jupyter",
    timeout: float = 60,
    template: dict[str, Any] | None = None,
    **more: str,
) -> Deployed:
    """CreateStack of the reference template in ``emulator`` (``template``: a changed one, as
    :func:`load_template` reads it; ``more``: other parameters); CREATE_COMPLETE or an
    AssertionError naming the resources that failed."""
    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    region = emulator.client("sts").meta.region_name
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"127.0.{number}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for number, zone in ((10, "a"), (11, "b"), (20, "a"), (21, "b"))
    ]
    public, private = subnets[:2], subnets[2:]
    emulator.client("ssm").put_parameter(
        Name=CONFIG_PARAMETER, Value=HUB_CONFIG.read_text(), Type="SecureString", Overwrite=True
    )
    cfn = emulator.client("cloudformation")
    parameters = {
        "VpcId": vpc,
        "PublicSubnetIds": ",".join(public),
        "PrivateSubnetIds": ",".join(private),
        "HubConfigParameter": CONFIG_PARAMETER,
        **more,
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text() if template is None else json.dumps(template),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        failed = [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in events
            if e["ResourceStatus"].endswith("FAILED")
        ]
        raise AssertionError(f"{name}: {stack['StackStatus']}: {failed}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=name)["StackResources"]
        if "PhysicalResourceId" in r  # moto gives ingress rules none
    }
    return Deployed(name, outputs, vpc, private, resources)
