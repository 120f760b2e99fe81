"""``awsspawner doctor`` against the emulator: a correct account is all OK (apart from the
documented WARNs), and each planted mistake gives its FAIL line, naming the setting, and exit
status 1. The command runs as the administrator runs it: its own process, a
``jupyterhub_config.py``, AWS through the emulator's counting proxy (so the test also sees
that the doctor changed nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import CLUSTER, CONTAINER, FAMILY, fargate_task_definition
from .emulator.launcher import Emulator
from .helpers import run_awsspawner

EXECUTION_ROLE = "notebook-execution"
TASK_ROLE = "notebook-task"
ANYWHERE_NODE = ("mi-00000000000000061", "127.0.0.61")

CONFIG = """
c = get_config()  # noqa: F821
c.AWSSpawner.aws_region = "us-east-1"
c.AWSSpawner.task_cluster_name = {cluster!r}
c.AWSSpawner.task_definition_family = {family!r}
c.AWSSpawner.task_container_name = {container!r}
c.AWSSpawner.launch_type = "FARGATE"
c.AWSSpawner.task_subnets = [{subnet!r}]
c.AWSSpawner.task_security_groups = [{group!r}]
c.AWSSpawner.task_role_arn = {task_role!r}
c.AWSSpawner.execution_role_arn = {execution_role!r}
c.AWSSpawner.efs_file_system_id = {file_system!r}
c.AWSSpawner.secrets = {secrets!r}
c.AWSSpawner.profile_list = [
    {{"display_name": "Fargate", "slug": "fargate", "default": True}},
    {{"display_name": "Spot", "slug": "spot",
      "spawner_override": {{"launch_type": "FARGATE_SPOT", "capacity_fallback": ["FARGATE"]}}}},
    {{"display_name": "GPU", "slug": "gpu", "spawner_override": {{
        "launch_type": "EXTERNAL", "task_subnets": [], "task_security_groups": [],
        "task_definition_family": "anywhere", "efs_file_system_id": None,
        "placement_constraints": [{{"type": "memberOf", "expression": {gpu_expression!r}}}],
    }}}},
]
{extra}
"""


@dataclass
class Account:
    """What the correct account holds, and the config's values (tests change either)."""

    values: dict[str, Any] = field(default_factory=dict)
    extra: str = ""


def iam_role(emulator: Emulator, name: str) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = emulator.client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust)
    )
    return str(role["Role"]["Arn"])


@pytest.fixture
def account(emulator: Emulator) -> Account:
    ecs, ec2 = emulator.client("ecs"), emulator.client("ec2")
    ecs.create_cluster(clusterName=CLUSTER, capacityProviders=["FARGATE", "FARGATE_SPOT"])
    ecs.register_task_definition(**fargate_task_definition())
    ecs.register_task_definition(
        family="anywhere",
        networkMode="bridge",
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 256}],
    )
    subnet = emulator.loopback_subnet()
    vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="nb", Description="nb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group, IpProtocol="tcp", FromPort=8888, ToPort=8888, CidrIp="127.0.0.0/16"
    )
    secret = emulator.client("secretsmanager").create_secret(Name="team/db", SecretString="x")
    ssm = emulator.client("ssm")
    ssm.put_parameter(Name="/team/key", Value="y", Type="SecureString")
    emulator.add_agent(
        CLUSTER,
        instance_id=ANYWHERE_NODE[0],
        address=ANYWHERE_NODE[1],
        attributes={"gpu": "true"},
    )
    return Account(
        values={
            "cluster": CLUSTER,
            "family": FAMILY,
            "container": CONTAINER,
            "subnet": subnet,
            "group": group,
            "task_role": iam_role(emulator, TASK_ROLE),
            "execution_role": iam_role(emulator, EXECUTION_ROLE),
            "file_system": emulator.efs_file_system([subnet]),
            "gpu_expression": "attribute:gpu == true",
            "secrets": {
                "DB": secret["ARN"],
                "KEY": ssm.get_parameter(Name="/team/key")["Parameter"]["ARN"],
            },
        }
    )


def doctor(emulator: Emulator, account: Account, tmp_path: Path, *args: str) -> Any:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(CONFIG.format(extra=account.extra, **account.values))
    return run_awsspawner(emulator, ["doctor", "-f", str(config), *args])


def lines(done: Any, status: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(status)]


WRITES = ("Create", "Put", "Register", "Deregister", "Delete", "Update", "Run", "Stop", "Tag")


def test_a_correct_account_is_all_ok_apart_from_the_documented_warnings(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    done = doctor(emulator, account, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not lines(done, "FAIL"), done.stdout
    warnings = lines(done, "WARN")
    assert [w.split(":")[0] for w in warnings] == [
        "WARN [fargate] notebook port",  # whether the hub is among the sources
        "WARN hub permissions",  # no --hub-role-arn
    ], done.stdout
    ok = "\n".join(lines(done, "OK"))
    for expected in (
        "credentials: account",
        "[spot] capacity providers: FARGATE_SPOT attached",
        "[gpu] placement constraints: satisfied by mi-00000000000000061",
        "[gpu] ECS Anywhere nodes: 1 registered, SSM online",
        "EFS homes",
        "secret: DB exists",
        "execution role",
        "[fargate] RunTask request: valid for ECS's API",
        f"[gpu] node address: {ANYWHERE_NODE[0]}: {ANYWHERE_NODE[1]} (by ",
    ):
        assert expected in ok, done.stdout
    # Read-only: the doctor sent no call that changes anything.
    sent = [op for op in emulator.stats()["calls"] if op.split(":")[1].startswith(WRITES)]
    assert sent == [], sent


def test_the_hub_roles_permissions_are_simulated_or_said_to_be_unchecked(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    """moto 5.2.5 does not implement iam:SimulatePrincipalPolicy: the doctor says it could not
    simulate (WARN), and the rest of the report stands."""
    hub_role = iam_role(emulator, "jupyterhub")
    done = doctor(emulator, account, tmp_path, "--hub-role-arn", hub_role)
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "hub permissions" in line]
    assert line.startswith("WARN hub permissions: simulation not possible"), line


def test_json_output_is_one_object_per_check(
    emulator: Emulator, account: Account, tmp_path: Path
) -> None:
    done = doctor(emulator, account, tmp_path, "--json", "--profile", "spot")
    checks = json.loads(done.stdout)
    assert {"status", "check", "found", "fix", "key", "profile"} == set(checks[0])
    assert {c["profile"] for c in checks} <= {"", "spot"}
    assert all(c["status"] in ("OK", "WARN") for c in checks), checks


def _no_spot(emulator: Emulator, account: Account) -> None:
    emulator.client("ecs").put_cluster_capacity_providers(
        cluster=CLUSTER, capacityProviders=["FARGATE"], defaultCapacityProviderStrategy=[]
    )


def _wrong_container(emulator: Emulator, account: Account) -> None:
    account.values["container"] = "notebook-server"


def _subnet_of_another_vpc(emulator: Emulator, account: Account) -> None:
    ec2 = emulator.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    account.values["subnet"] = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.0.0/24")["Subnet"][
        "SubnetId"
    ]


def _no_such_family(emulator: Emulator, account: Account) -> None:
    account.values["family"] = "notebook-typo"


def _no_such_cluster(emulator: Emulator, account: Account) -> None:
    account.values["cluster"] = "notebooks-typo"


def _bridge_for_fargate(emulator: Emulator, account: Account) -> None:
    emulator.client("ecs").register_task_definition(
        **fargate_task_definition(networkMode="bridge", requiresCompatibilities=["EC2"])
    )


def _fargate_size(emulator: Emulator, account: Account) -> None:
    emulator.client("ecs").register_task_definition(
        **fargate_task_definition(cpu="256", memory="4096", requiresCompatibilities=["EC2"])
    )


def _no_mount_target(emulator: Emulator, account: Account) -> None:
    account.values["file_system"] = emulator.efs_file_system([])


def _secret_gone(emulator: Emulator, account: Account) -> None:
    emulator.client("secretsmanager").delete_secret(
        SecretId=account.values["secrets"]["DB"], ForceDeleteWithoutRecovery=True
    )


def _secret_scheduled_for_deletion(emulator: Emulator, account: Account) -> None:
    # The console's delete: the secret still answers DescribeSecret for 7 to 30 days.
    emulator.client("secretsmanager").delete_secret(
        SecretId=account.values["secrets"]["DB"], RecoveryWindowInDays=7
    )


def _parameter_gone(emulator: Emulator, account: Account) -> None:
    emulator.client("ssm").delete_parameter(Name="/team/key")


def _execution_role_gone(emulator: Emulator, account: Account) -> None:
    emulator.client("iam").delete_role(RoleName=EXECUTION_ROLE)


def _no_gpu_node(emulator: Emulator, account: Account) -> None:
    account.values["gpu_expression"] = "attribute:gpu == yes"  # the node says "true"


def _security_group_gone(emulator: Emulator, account: Account) -> None:
    emulator.client("ec2").delete_security_group(GroupId=account.values["group"])


def _token_bucket_missing(emulator: Emulator, account: Account) -> None:
    account.extra = (
        'c.AWSSpawner.api_token_source = "s3"\nc.AWSSpawner.api_token_bucket = "no-such-bucket"'
    )


def _placement_on_default_fargate(emulator: Emulator, account: Account) -> None:
    emulator.client("ecs").put_cluster_capacity_providers(
        cluster=CLUSTER,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    account.extra = """c.AWSSpawner.profile_list.append({
    "display_name": "Default", "slug": "default-strategy",
    "spawner_override": {"launch_type": [], "placement_constraints": [
        {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g5.*"}]},
})"""


MISTAKES: list[tuple[Callable[[Emulator, Account], None], str, str]] = [
    (_no_spot, "[spot] capacity providers: FARGATE_SPOT not attached", "launch_type"),
    (_wrong_container, "notebook container", "task_container_name"),
    (_subnet_of_another_vpc, "subnets and security groups: not in one VPC", "task_subnets"),
    (_no_such_family, "task definition: notebook-typo", "task_definition_family"),
    (_no_such_cluster, "cluster: notebooks-typo does not exist", "task_cluster_name"),
    (_bridge_for_fargate, "network mode bridge (Fargate needs awsvpc)", "task_definition_family"),
    (_fargate_size, "cpu 256 / memory 4096", "task_definition_family"),
    (_no_mount_target, "EFS mount targets", "efs_file_system_id"),
    (_secret_gone, "secret: DB", "secrets"),
    (_secret_scheduled_for_deletion, "ScheduledForDeletion", "secrets"),
    (_parameter_gone, "secret: KEY", "secrets"),
    (_execution_role_gone, "execution role", "execution_role_arn"),
    (_no_gpu_node, "[gpu] placement constraints: no registered node", "placement_constraints"),
    (_security_group_gone, "security groups", "task_security_groups"),
    (_token_bucket_missing, "token bucket: no-such-bucket", "api_token_bucket"),
    # The cluster's default strategy is Fargate: ECS refuses placement constraints there.
    (_placement_on_default_fargate, "placement constraints on Fargate", "placement_constraints"),
]


@pytest.mark.parametrize(
    ("plant", "expected", "key"), MISTAKES, ids=[m[0].__name__.strip("_") for m in MISTAKES]
)
def test_each_planted_mistake_gives_its_fail_line(
    emulator: Emulator,
    account: Account,
    tmp_path: Path,
    plant: Callable[[Emulator, Account], None],
    expected: str,
    key: str,
) -> None:
    plant(emulator, account)
    done = doctor(emulator, account, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in lines(done, "FAIL") if expected in line]
    assert failed, done.stdout
    if key:
        assert f"(c.AWSSpawner.{key})" in failed[0], failed[0]
