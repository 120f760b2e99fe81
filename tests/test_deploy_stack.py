"""The reference stack, deploy/jupyterhub-ecs.yaml: deployed into the emulator's CloudFormation
(its ECS, EFS and Cloud Map handlers build every property: tests/emulator/cfn_ext.py), checked
by ``awsspawner doctor`` from the stack's own outputs and the shipped jupyterhub_config.py, and
its hub role compared with docs/iam.md. cfn-lint (the lint session) checks the template against
CloudFormation's resource specification; the end-to-end layer spawns through it
(tests/e2e/test_deploy.py)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from .emulator.cfn_ext import ecs_json
from .emulator.launcher import Emulator
from .helpers import run_awsspawner
from .iam_policy import Call, allows, denied
from .reference_stack import REPO, deploy, hub_policy, load_template

IAM_DOC = REPO / "docs" / "iam.md"


def _ingress(ec2: Any, group: str) -> set[tuple[int, str]]:
    """(port, source) of each inbound rule of ``group``: a security group or a CIDR."""
    (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return {
        (rule["FromPort"], source.get("GroupId") or source["CidrIp"])
        for rule in found["IpPermissions"]
        for source in rule.get("UserIdGroupPairs", []) + rule.get("IpRanges", [])
    }


def test_the_stack_deploys_with_what_awsspawner_needs(emulator: Emulator) -> None:
    stack = deploy(emulator)
    ecs, ec2 = emulator.client("ecs"), emulator.client("ec2")
    env = stack.environment
    (cluster,) = ecs.describe_clusters(clusters=[env["AWSSPAWNER_CLUSTER"]])["clusters"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    notebook = ecs.describe_task_definition(taskDefinition=env["AWSSPAWNER_TASK_DEFINITION_FAMILY"])
    definition = notebook["taskDefinition"]
    assert definition["networkMode"] == "awsvpc"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert (definition["cpu"], definition["memory"]) == ("1024", "2048")
    assert definition["executionRoleArn"] == env["AWSSPAWNER_EXECUTION_ROLE"]
    assert ":role/jupyter-NotebookTaskRole-" in definition["taskRoleArn"]
    assert definition["containerDefinitions"][0]["name"] == "notebook"

    # The hub: one task at a time, its database on the EFS access point, its configuration
    # from the SecureString parameter, found by notebooks through Cloud Map.
    (service,) = ecs.describe_services(
        cluster=env["AWSSPAWNER_CLUSTER"], services=[stack.outputs["HubServiceName"]]
    )["services"]
    assert (service["desiredCount"], service["launchType"]) == (1, "FARGATE")
    assert service["loadBalancers"][0]["containerPort"] == 8000
    hub = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    (volume,) = hub["volumes"]
    efs = volume["efsVolumeConfiguration"]
    # On a file system of its own, which notebooks cannot reach (below).
    assert efs["fileSystemId"] == stack.resources["HubDataFileSystem"]
    assert efs["fileSystemId"] != env["AWSSPAWNER_FILE_SYSTEM"]
    assert efs["transitEncryption"] == "ENABLED"
    (point,) = emulator.client("efs").describe_access_points(
        AccessPointId=efs["authorizationConfig"]["accessPointId"]
    )["AccessPoints"]
    assert point["RootDirectory"]["Path"] == "/hub-data/jupyterhub"
    (container,) = hub["containerDefinitions"]
    packages = load_template()["Parameters"]["HubPackages"]["Default"]
    assert {"name": "HUB_PACKAGES", "value": packages} in container["environment"]
    assert container["secrets"][0]["name"] == "JUPYTERHUB_CONFIG_PY"
    assert container["secrets"][0]["valueFrom"].endswith(":parameter/jupyterhub/config")
    # What the HubEnvironment output tells an administrator is what the hub's container gets.
    given = {e["name"]: e["value"] for e in container["environment"]}
    assert {k: v for k, v in given.items() if k.startswith("AWSSPAWNER_")} == env
    assert env["AWSSPAWNER_HUB_CONNECT_URL"] == "http://hub.jupyter.internal:8081"
    discovery = emulator.client("servicediscovery")
    (namespace,) = discovery.list_namespaces()["Namespaces"]
    assert namespace["Name"] == "jupyter.internal"
    (registry,) = service["serviceRegistries"]
    (registered,) = discovery.list_services()["Services"]
    assert (registered["Name"], registered["Arn"]) == ("hub", registry["registryArn"])

    # Each path of the network open to exactly what uses it.
    groups = stack.resources
    notebooks = env["AWSSPAWNER_SECURITY_GROUP"]
    assert notebooks == groups["NotebookSecurityGroup"]
    hub_group, users = groups["HubSecurityGroup"], groups["LoadBalancerSecurityGroup"]
    assert _ingress(ec2, notebooks) == {(8888, hub_group)}
    assert _ingress(ec2, hub_group) == {(8000, users), (8081, notebooks)}
    assert _ingress(ec2, users) == {(80, "0.0.0.0/0")}  # no certificate: no 443
    assert _ingress(ec2, groups["FileSystemSecurityGroup"]) == {(2049, notebooks)}
    assert _ingress(ec2, groups["HubDataSecurityGroup"]) == {(2049, hub_group)}
    efs = emulator.client("efs")
    for file_system, group in (
        (env["AWSSPAWNER_FILE_SYSTEM"], groups["FileSystemSecurityGroup"]),
        (stack.resources["HubDataFileSystem"], groups["HubDataSecurityGroup"]),
    ):
        targets = efs.describe_mount_targets(FileSystemId=file_system)["MountTargets"]
        assert sorted(t["SubnetId"] for t in targets) == sorted(stack.private_subnets)
        for target in targets:
            assert efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])[
                "SecurityGroups"
            ] == [group]


def test_with_a_certificate_users_are_sent_to_https(emulator: Emulator) -> None:
    acm = emulator.client("acm")
    certificate = acm.request_certificate(DomainName="hub.example.org")["CertificateArn"]
    stack = deploy(emulator, CertificateArn=certificate, UsersCidr="198.51.100.0/24")
    users = stack.resources["LoadBalancerSecurityGroup"]
    assert _ingress(emulator.client("ec2"), users) == {
        (80, "198.51.100.0/24"),
        (443, "198.51.100.0/24"),
    }
    assert stack.outputs["HubUrl"].startswith("https://")
    elb = emulator.client("elbv2")
    listeners = elb.describe_listeners(LoadBalancerArn=stack.resources["LoadBalancer"])
    by_port = {listener["Port"]: listener for listener in listeners["Listeners"]}
    (redirect,) = by_port[80]["DefaultActions"]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert by_port[443]["Certificates"] == [{"CertificateArn": certificate}]
    (forward,) = by_port[443]["DefaultActions"]
    assert forward["TargetGroupArn"] == stack.resources["HubTargetGroup"]


def test_a_property_ecs_would_refuse_fails_the_stack(emulator: Emulator) -> None:
    """The emulator's CloudFormation checks the ECS request each resource stands for, as
    strict mode checks requests: moto alone would register this definition."""
    template = load_template()
    container = template["Resources"]["NotebookTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ][0]
    container["PortMappings"][0]["ContainerPort"] = "8888/tcp"
    with pytest.raises(ClientError, match="NotebookTaskDefinition") as failed:
        deploy(emulator, template=template)
    assert "containerPort" in str(failed.value)


def test_two_hubs_never_share_the_database_and_homes_outlive_the_stack() -> None:
    """What moto does not keep (deployment configuration, deletion policies), from the
    template itself."""
    resources = load_template()["Resources"]
    service = resources["HubService"]["Properties"]
    assert service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"] == {
        "MinimumHealthyPercent": 0,
        "MaximumPercent": 100,
        # A hub that never gets healthy fails the stack instead of being replaced for hours.
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
    }
    for file_system in ("FileSystem", "HubDataFileSystem"):
        assert resources[file_system]["DeletionPolicy"] == "Retain"
        assert resources[file_system]["UpdateReplacePolicy"] == "Retain"


def test_homes_are_mounted_only_with_tls_through_an_access_point() -> None:
    """EFS's default policy lets any client that reaches a mount target mount the root of the
    file system, every user's home included; the stack's policy refuses both ways round
    awsspawner's access points (moto keeps no file system policy: from the template)."""
    policy = load_template()["Resources"]["FileSystem"]["Properties"]["FileSystemPolicy"]
    everyone = {"AWS": "*"}
    assert policy["Statement"] == [
        {
            "Sid": "OnlyEncryptedConnections",
            "Effect": "Deny",
            "Principal": everyone,
            "Action": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "OnlyThroughAnAccessPoint",
            "Effect": "Deny",
            "Principal": everyone,
            "Action": [
                "elasticfilesystem:ClientMount",
                "elasticfilesystem:ClientWrite",
                "elasticfilesystem:ClientRootAccess",
            ],
            "Condition": {"Null": {"elasticfilesystem:AccessPointArn": "true"}},
        },
    ]  # and no Allow: only identities whose own policy allows them mount (IAM auth)


def test_the_hub_configuration_fits_a_standard_ssm_parameter() -> None:
    """HubConfigParameter is a standard-tier SecureString in docs/deploy.md: 4 KB at most
    (AWS refuses a larger value; the emulator does not), with 800 bytes left for the
    administrator's authenticator."""
    assert len((REPO / "deploy" / "jupyterhub_config.py").read_bytes()) <= 4096 - 800


def test_the_defaults_install_this_release_on_its_jupyterhub() -> None:
    """The hub image's JupyterHub is the major version awsspawner requires (pip would
    otherwise replace it at every start), and HubPackages asks for this release's major
    version: jupyterhub-awsspawner 0.x on PyPI is another, older spawner."""
    parameters = load_template()["Parameters"]
    pyproject = (REPO / "pyproject.toml").read_text()
    (required,) = re.findall(r'"jupyterhub>=(\d+)', pyproject)
    assert parameters["HubImage"]["Default"] == f"quay.io/jupyterhub/jupyterhub:{required}"
    (major, minor) = re.findall(r'^version = "(\d+)\.(\d+)', pyproject, flags=re.M)[0]
    assert parameters["HubPackages"]["Default"] == (
        f"jupyterhub-awsspawner>={major}.{minor},<{int(major) + 1}"
    )


STAND_IN = """#!/bin/sh
printf '%s\\n' "$@" > "$RECORD/$(basename "$0").args"
env > "$RECORD/$(basename "$0").env"
if [ "$(basename "$0")" = jupyterhub ]; then
    cp -p "$2" "$RECORD/config.py"
fi
"""


def _run_hub_command(tmp_path: Path, packages: str, config: str) -> Path:
    """The hub container's command as ECS runs it (``sh -c``), with stand-ins for ``pip`` and
    ``jupyterhub`` that record what they were given. The config's path is moved from /tmp to
    the test's folder; nothing else is changed."""
    container = load_template()["Resources"]["HubTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ][0]
    assert container["EntryPoint"] == ["sh", "-c"]
    (command,) = container["Command"]
    assert command.count("/tmp/jupyterhub_config.py") == 2
    command = command.replace("/tmp/jupyterhub_config.py", str(tmp_path / "config.py"))
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    for name in ("pip", "jupyterhub"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "RECORD": str(record),
        "HUB_PACKAGES": packages,
        "JUPYTERHUB_CONFIG_PY": config,
    }
    # A file that the requirement "oauthenticator[googlegroups]" would match as a pattern.
    (tmp_path / "oauthenticatorg").touch()
    done = subprocess.run(
        ["sh", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return record


def test_the_hub_container_installs_writes_its_config_and_starts(tmp_path: Path) -> None:
    config = (REPO / "deploy" / "jupyterhub_config.py").read_text() + "x = '%s \\\\ $HOME'\n"
    default = load_template()["Parameters"]["HubPackages"]["Default"]
    extra = "oauthenticator[googlegroups]"
    record = _run_hub_command(tmp_path, f"{default} {extra}", config)
    # Each requirement reaches pip as one word: < and > no redirections, [ ] no pattern.
    args = (record / "pip.args").read_text().split()
    assert args == ["install", "--no-cache-dir", default, extra]
    assert (record / "config.py").read_text() == config  # byte for byte
    assert stat.S_IMODE((record / "config.py").stat().st_mode) == 0o600
    # The hub (and what it starts) never sees the configuration in its environment.
    assert "JUPYTERHUB_CONFIG_PY" not in (record / "jupyterhub.env").read_text()
    assert (record / "jupyterhub.args").read_text().split() == [
        "-f",
        str(tmp_path / "config.py"),
    ]


def test_the_hub_container_skips_pip_without_packages(tmp_path: Path) -> None:
    record = _run_hub_command(tmp_path, "", "c = get_config()\n")
    assert not (record / "pip.args").exists()
    assert (record / "jupyterhub.args").exists()


def test_the_doctor_passes_on_the_deployed_stack(emulator: Emulator, tmp_path: Path) -> None:
    """As docs/deploy.md runs it: the shipped jupyterhub_config.py, the HubEnvironment
    output's variables, the hub's role. Two documented WARNs: whether the hub's address is
    among the notebook port's sources (a security group rule; docs/doctor.md), and the role
    simulation moto 5.2.5 does not implement."""
    stack = deploy(emulator)
    done = run_awsspawner(
        emulator,
        ["doctor", "-f", str(REPO / "deploy" / "jupyterhub_config.py"), "--hub-role-arn",
         stack.outputs["HubRoleArn"]],
        env=stack.environment,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout.splitlines()
    assert not [line for line in report if line.startswith("FAIL")], done.stdout
    assert [line.split(":")[0] for line in report if line.startswith("WARN")] == [
        "WARN notebook port",
        "WARN hub permissions",
    ], done.stdout
    ok = "\n".join(line for line in report if line.startswith("OK"))
    env = stack.environment
    for expected in (
        f"capacity providers: FARGATE_SPOT attached to {env['AWSSPAWNER_CLUSTER']}",
        "fits Fargate Spot",
        "RunTask request: valid for ECS's API",
        f"subnets and security groups: all in {stack.vpc}",
        f"EFS homes: {env['AWSSPAWNER_FILE_SYSTEM']} reachable from every subnet's zone",
        f"token bucket: {env['AWSSPAWNER_TOKEN_BUCKET']}",
        f"execution role: {env['AWSSPAWNER_EXECUTION_ROLE']} exists",
    ):
        assert expected in ok, done.stdout


def _doc_json_blocks(page: Path = IAM_DOC) -> dict[str, list[Any]]:
    """A docs page's JSON blocks by the heading they follow."""
    blocks: dict[str, list[Any]] = {}
    heading = ""
    for part in re.split(r"^```json\n(.*?)^```\n", page.read_text(), flags=re.S | re.M):
        if part.lstrip().startswith(("{", "[")):
            blocks.setdefault(heading, []).append(json.loads(part))
        else:
            headings = re.findall(r"^#+ (.+)$", part, flags=re.M)
            heading = headings[-1] if headings else heading
    return blocks


def _canonical(statement: dict[str, Any]) -> str:
    """A statement with its lists sorted and one-element lists as their element (IAM reads
    "Action": "x" and ["x"] alike)."""

    def canon(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: canon(v) for k, v in value.items()}
        if isinstance(value, list):
            items = sorted((canon(v) for v in value), key=json.dumps)
            return items[0] if len(items) == 1 else items
        return value

    return json.dumps(canon(statement), sort_keys=True)


def test_the_stack_grants_the_hub_exactly_what_docs_iam_md_lists() -> None:
    blocks = _doc_json_blocks()
    (policy,) = blocks["IAM permissions"]
    (additions,) = blocks["The reference stack's hub role"]
    documented = sorted(_canonical(s) for s in policy["Statement"] + additions)
    granted = sorted(_canonical(s) for s in hub_policy())
    assert granted == documented


def test_storage_md_asks_for_the_same_homes_statements() -> None:
    """docs/storage.md repeats the EFS statements for its readers: the same as docs/iam.md's."""
    (additions,) = _doc_json_blocks()["The reference stack's hub role"]
    by_sid = {s["Sid"]: _canonical(s) for s in additions}
    repeated = [
        s
        for block in _doc_json_blocks(REPO / "docs" / "storage.md").values()
        for listed in block
        if isinstance(listed, list)
        for s in listed
        if s.get("Sid", "").startswith(("UsersHomes", "TagUsersHomes"))
    ]
    homes = {"UsersHomes", "TagUsersHomesAtCreation", "UsersHomesState"}
    assert {s["Sid"] for s in repeated} == homes
    for statement in repeated:
        assert _canonical(statement) == by_sid[statement["Sid"]], statement["Sid"]


def test_a_policy_that_differs_from_the_docs_is_seen() -> None:
    """The comparison can fail: one action more, or a condition less, is a difference."""
    template = load_template()
    statements = template["Resources"]["HubTaskRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    documented = sorted(_canonical(s) for s in hub_policy())
    statements[0]["Action"].append("ecs:StartTask")
    assert sorted(_canonical(s) for s in hub_policy(template)) != documented
    statements[0]["Action"].remove("ecs:StartTask")
    del statements[0]["Condition"]
    assert sorted(_canonical(s) for s in hub_policy(template)) != documented


def test_the_hub_role_allows_its_calls_and_refuses_their_neighbours() -> None:
    """tests/iam_policy.py's evaluation of the stack's hub role (docs/iam.md's names): what
    the hub sends is allowed; the same call one step outside what it needs is not. The e2e
    layer evaluates every call a real hub made (tests/e2e/test_deploy.py)."""
    policy = hub_policy()
    ecs = "arn:aws:ecs:eu-west-1:123456789012"
    cluster = {"ecs:cluster": f"{ecs}:cluster/notebooks"}
    other_cluster = {"ecs:cluster": f"{ecs}:cluster/batch"}
    home = "arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/fs-0123456789abcdef0"
    tokens = "arn:aws:s3:::my-hub-tokens"
    ours, theirs = (
        {"aws:RequestTag/awsspawner:hub": "jupyterhub"},
        {"aws:RequestTag/awsspawner:hub": "other"},
    )
    allowed = [
        Call("ecs:RunTask", f"{ecs}:task-definition/jupyter-notebook-home-0a1b2c3d4e5f:3", cluster),
        Call("ecs:StopTask", f"{ecs}:task/notebooks/0123abcd", cluster),
        Call("ecs:ListTasks", "*", cluster),
        Call("ecs:TagResource", f"{ecs}:task/notebooks/x", {"ecs:CreateAction": "RunTask"}),
        Call("elasticfilesystem:CreateAccessPoint", home, ours),
        Call("s3:PutObject", f"{tokens}/jupyterhub-tokens/jupyterhub/alice.env"),
        Call("s3:ListBucket", tokens, {"s3:prefix": "jupyterhub-tokens/jupyterhub/"}),
    ]
    refused = [
        Call("ecs:RunTask", f"{ecs}:task-definition/batch-job:1", cluster),
        Call("ecs:RunTask", f"{ecs}:task-definition/jupyter-notebook:1", other_cluster),
        Call("ecs:StopTask", f"{ecs}:task/batch/0123abcd", other_cluster),
        Call("ecs:ListTasks", "*", other_cluster),
        Call("ecs:TagResource", f"{ecs}:task/notebooks/x"),  # tagging an existing task
        Call("elasticfilesystem:CreateAccessPoint", home, theirs),
        Call("s3:PutObject", f"{tokens}/elsewhere/alice.env"),
        Call("s3:ListBucket", tokens, {"s3:prefix": ""}),
        Call("iam:PassRole", "arn:aws:iam::123456789012:role/admin",
             {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
    ]  # fmt: skip
    assert denied(policy, allowed) == []
    assert denied(policy, refused) == refused
    with pytest.raises(ValueError, match="NumericLessThan"):
        allows([{**policy[0], "Condition": {"NumericLessThan": {"x": "1"}}}], allowed[0])


def test_the_iam_evaluation_follows_iams_rules() -> None:
    def allow(**statement: Any) -> list[dict[str, Any]]:
        return [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **statement}]

    get = Call("s3:GetObject", "arn:aws:s3:::bucket/a[1]/b")
    assert allows(allow(Resource="arn:aws:s3:::bucket/a[1]/*"), get)  # [ ] are no class
    assert not allows(allow(Resource="arn:aws:s3:::bucket/a1/*"), get)
    # In an ARN a * stays within its part: it never spans the region's or account's colon.
    task = Call("ecs:StopTask", "arn:aws:ecs:eu-west-1:123456789012:task/c/1")
    assert not allows(allow(Action="ecs:StopTask", Resource="arn:aws:ecs:*/c/1"), task)
    assert allows(allow(Action="ECS:stoptask", Resource="arn:aws:ecs:*:*:task/c/*"), task)
    # Condition keys are case-blind; a key the call lacks fails its condition; Deny wins.
    tagged = Call("s3:GetObject", "*", {"aws:RequestTag/Team": "a"})
    assert allows(allow(Condition={"StringEquals": {"AWS:requesttag/team": "a"}}), tagged)
    assert not allows(allow(Condition={"StringEquals": {"s3:prefix": "a"}}), tagged)
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert not allows([*allow(), deny], tagged)
    with pytest.raises(ValueError, match="NotResource"):
        allows([{"Effect": "Allow", "Action": "*", "NotResource": "x"}], get)


def test_ecs_json_spells_keys_as_ecs_does() -> None:
    """CloudFormation's EFSVolumeConfiguration / IAM are ECS's efsVolumeConfiguration / iam;
    the keys of free-form maps (log options) are the user's own."""
    assert ecs_json(
        {
            "EFSVolumeConfiguration": {
                "FilesystemId": "fs-1",
                "AuthorizationConfig": {"IAM": "ENABLED"},
            },
            "LogConfiguration": {"Options": {"awslogs-group": "g", "Mode": "x"}},
        }
    ) == {
        "efsVolumeConfiguration": {
            "fileSystemId": "fs-1",
            "authorizationConfig": {"iam": "ENABLED"},
        },
        "logConfiguration": {"options": {"awslogs-group": "g", "Mode": "x"}},
    }
