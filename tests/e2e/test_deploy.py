"""The reference stack end to end: deploy/jupyterhub-ecs.yaml deployed into the emulator's
CloudFormation, a real JupyterHub started with the shipped deploy/jupyterhub_config.py and the
stack's HubEnvironment output (what the hub's container gets on ECS), and a user who logs in
and reaches JupyterLab in a Fargate Spot task of the stack's cluster, home on the stack's EFS,
token in the stack's bucket.

What cannot be the stack's own here is replaced by this machine's equivalent, and only that:
the load balancer and Cloud Map name by loopback addresses, the EFS path of the hub's database
by the test's folder, the authenticator (the shipped file lets nobody in) by a shared password.
The reaper runs as the configuration says, as a hub-managed service.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote

import aiohttp
from demo.stack import HARNESS_SCOPES, HubStack, find_configurable_http_proxy

from ..emulator.launcher import REGION
from ..helpers import task_environment
from ..iam_policy import Call, denied
from ..reference_stack import HUB_CONFIG, Deployed, deploy, hub_policy
from .conftest import stop_and_check
from .hubclient import HubClient
from .test_hub import assert_stopped_cleanly, only_task, server_path, spawn_ready

ACCOUNT = "123456789012"


@dataclass
class DeployedHubStack(HubStack):
    """A hub configured as the reference stack configures it, on this machine."""

    deployed: Deployed | None = field(default=None, init=False)

    def start_aws(self) -> None:
        self.emulator.start()
        self.deployed = deploy(self.emulator)
        self.cluster = self.deployed.environment["AWSSPAWNER_CLUSTER"]
        # Fargate's part: the stack's cluster's tasks run as processes on 127.0.0.x.
        self.emulator.add_agent(self.cluster, fargate=True, options=self.agent_options)

    def _config(self) -> Path:
        harness = {"name": "harness", "api_token": self.service_token}
        role = {"name": "harness", "scopes": HARNESS_SCOPES, "services": ["harness"]}
        lines = [
            "c = get_config()  # noqa",
            f"load_subconfig({str(HUB_CONFIG)!r})  # noqa",
            "# This machine's addresses for the load balancer's and Cloud Map's.",
            f"c.JupyterHub.bind_url = 'http://127.0.0.1:{self.port}'",
            f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{self.hub_api_port}'",
            f"c.JupyterHub.hub_connect_url = 'http://127.0.0.1:{self.hub_api_port}'",
            # Another name for the same address: which of the two a server got shows which
            # setting reached it (the Cloud Map name's place).
            f"c.Spawner.hub_connect_url = 'http://localhost:{self.hub_api_port}'",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.proxy_api_port}'",
            f"c.ConfigurableHTTPProxy.command = [{find_configurable_http_proxy()!r}]",
            "# The hub-data access point's folder.",
            f"c.JupyterHub.db_url = 'sqlite:///{self.workdir}/jupyterhub.sqlite'",
            f"c.JupyterHub.cookie_secret_file = '{self.workdir}/jupyterhub_cookie_secret'",
            "c.JupyterHub.authenticator_class = 'shared-password'",
            f"c.SharedPasswordAuthenticator.user_password = {self.password!r}",
            "c.Authenticator.allow_all = True",
            "c.AWSSpawner.startup_poll_interval = 0.5",
            f"c.JupyterHub.services.append({harness!r})",
            f"c.JupyterHub.load_roles.append({role!r})",
            "c.JupyterHub.tornado_settings = {'slow_spawn_timeout': 0}",
        ]
        if os.geteuid() == 0:  # the "image" is this machine's Python, run by root here
            lines.append("c.Spawner.args = ['--ServerApp.allow_root=True']")
        path = self.workdir / "jupyterhub_config.py"
        path.write_text("\n".join(lines) + "\n")
        return path

    def hub_environment(self) -> dict[str, str]:
        assert self.deployed is not None
        return {**super().hub_environment(), **self.deployed.environment}


@contextlib.asynccontextmanager
async def deployed_hub() -> AsyncIterator[tuple[DeployedHubStack, HubClient]]:
    stack = DeployedHubStack().start()
    try:
        async with aiohttp.ClientSession() as session:
            yield stack, HubClient(stack, session)
    except BaseException:
        print(stack.hub_log_tail(80))
        raise
    finally:
        stop_and_check(stack)


def hub_calls(stack: DeployedHubStack) -> list[Call]:
    """Every authorization IAM would make for the calls the hub and its reaper sent (the
    emulator's proxy saw them all): the action, the resource it is made on, and the context
    keys the stack's policy conditions on. A call of a kind not decoded here is checked on
    resource "*" without context, which a resource-limited statement does not allow: a new
    kind of call cannot pass unseen."""
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    counts = stack.emulator.stats()["calls"]
    bodies = {op: stack.emulator.request_bodies(op) for op in counts}
    for operation, recorded in bodies.items():  # the proxy keeps the last 2,000 of each
        assert not recorded or len(recorded) == counts[operation], operation
    passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    ecs_client = stack.emulator.client("ecs")
    calls: list[Call] = []

    def cluster_arn(body: dict) -> str:
        named = body.get("cluster", "default")
        return named if named.startswith("arn:") else f"{ecs}:cluster/{named}"

    def task_arn(body: dict, ref: str) -> str:
        cluster = cluster_arn(body).rpartition("/")[2]
        return ref if ref.startswith("arn:") else f"{ecs}:task/{cluster}/{ref}"

    for body in map(json.loads, bodies.pop("ecs:RunTask", [])):
        in_cluster = {"ecs:cluster": cluster_arn(body)}
        definition = ecs_client.describe_task_definition(taskDefinition=body["taskDefinition"])
        revision = definition["taskDefinition"]
        calls.append(Call("ecs:RunTask", revision["taskDefinitionArn"], in_cluster))
        if body.get("tags"):
            created = {"ecs:CreateAction": "RunTask"}
            calls.append(Call("ecs:TagResource", task_arn(body, "new"), created))
        # The roles the task will run with: the revision's, or the overrides' instead.
        overrides = body.get("overrides", {})
        for key in ("taskRoleArn", "executionRoleArn"):
            role = overrides.get(key) or revision.get(key)
            if role:
                calls.append(Call("iam:PassRole", role, passed))
    for body in map(json.loads, bodies.pop("ecs:RegisterTaskDefinition", [])):
        calls.append(Call("ecs:RegisterTaskDefinition", "*"))
        if body.get("tags"):
            revision_arn = f"{ecs}:task-definition/{body['family']}:1"
            created = {"ecs:CreateAction": "RegisterTaskDefinition"}
            calls.append(Call("ecs:TagResource", revision_arn, created))
        for role in (body.get("taskRoleArn"), body.get("executionRoleArn")):
            if role:
                calls.append(Call("iam:PassRole", role, passed))
    for body in map(json.loads, bodies.pop("ecs:StopTask", [])):
        in_cluster = {"ecs:cluster": cluster_arn(body)}
        calls.append(Call("ecs:StopTask", task_arn(body, body["task"]), in_cluster))
    for body in map(json.loads, bodies.pop("ecs:DescribeTasks", [])):
        in_cluster = {"ecs:cluster": cluster_arn(body)}
        calls += [Call("ecs:DescribeTasks", task_arn(body, t), in_cluster) for t in body["tasks"]]
    for body in map(json.loads, bodies.pop("ecs:ListTasks", [])):
        calls.append(Call("ecs:ListTasks", "*", {"ecs:cluster": cluster_arn(body)}))
    efs = f"arn:aws:elasticfilesystem:{REGION}:{ACCOUNT}"
    for body in map(json.loads, bodies.pop("efs:CreateAccessPoint", [])):
        file_system = f"{efs}:file-system/{body['FileSystemId']}"
        tagged = {f"aws:RequestTag/{t['Key']}": t["Value"] for t in body.get("Tags", [])}
        calls.append(Call("elasticfilesystem:CreateAccessPoint", file_system, tagged))
        if tagged:
            created = {**tagged, "elasticfilesystem:CreateAction": "CreateAccessPoint"}
            point = f"{efs}:access-point/fsap-0123456789abcdef0"
            calls.append(Call("elasticfilesystem:TagResource", point, created))
    for operation in ("s3:PutObject", "s3:DeleteObject"):
        for path in bodies.pop(operation, []):
            calls.append(Call(operation, "arn:aws:s3:::" + unquote(path.lstrip("/"))))
    for path in bodies.pop("s3:ListObjectsV2", []):
        bucket, _, query = path.lstrip("/").partition("?")
        prefix = parse_qs(query).get("prefix", [""])[0]
        calls.append(Call("s3:ListBucket", f"arn:aws:s3:::{bucket}", {"s3:prefix": prefix}))
    for operation in bodies:  # the calls not decoded above
        service, name = operation.split(":", 1)
        if operation in NO_PERMISSION_NEEDED:
            continue
        calls.append(Call(f"{IAM_SERVICE.get(service, service)}:{name}", "*"))
    return calls


#: IAM's service prefix where the proxy's name differs.
IAM_SERVICE = {"efs": "elasticfilesystem"}
#: Calls IAM lets every identity make.
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}


async def test_a_user_reaches_jupyterlab_through_the_deployed_stack() -> None:
    async with deployed_hub() as (stack, hub):
        assert stack.deployed is not None
        env = stack.deployed.environment
        user = "deployed-ann"
        await spawn_ready(hub, user)
        task = await only_task(stack, user)

        # The task is the stack's: its cluster, a revision of its notebook family, its
        # subnets and security group, Spot first; the user's home an access point of its
        # file system, tagged as the hub role's condition asks; the token in its bucket.
        assert task["clusterArn"].endswith(f":cluster/{env['AWSSPAWNER_CLUSTER']}")
        assert task["capacityProviderName"] == "FARGATE_SPOT"
        family = env["AWSSPAWNER_TASK_DEFINITION_FAMILY"]
        assert task["taskDefinitionArn"].startswith(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}"
        )
        ecs = stack.emulator.client("ecs")
        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])
        revision = definition["taskDefinition"]
        roles = {
            f"arn:aws:iam::{ACCOUNT}:role/{stack.deployed.resources[name]}"
            for name in ("NotebookTaskRole", "TaskExecutionRole")
        }
        assert {revision["taskRoleArn"], revision["executionRoleArn"]} == roles
        (volume,) = [v for v in revision["volumes"] if "efsVolumeConfiguration" in v]
        efs_volume = volume["efsVolumeConfiguration"]
        assert efs_volume["fileSystemId"] == env["AWSSPAWNER_FILE_SYSTEM"]
        (point,) = stack.emulator.client("efs").describe_access_points(
            AccessPointId=efs_volume["authorizationConfig"]["accessPointId"]
        )["AccessPoints"]
        assert {"Key": "awsspawner:hub", "Value": env["AWSSPAWNER_HUB_ID"]} in point["Tags"]
        (run_task,) = [json.loads(b) for b in stack.emulator.request_bodies("ecs:RunTask")]
        network = run_task["networkConfiguration"]["awsvpcConfiguration"]
        assert network["subnets"] == env["AWSSPAWNER_SUBNETS"].split(",")
        assert network["securityGroups"] == [env["AWSSPAWNER_SECURITY_GROUP"]]
        assert network["assignPublicIp"] == "DISABLED"
        (override,) = run_task["overrides"]["containerOverrides"]
        (token_file,) = override["environmentFiles"]
        bucket = env["AWSSPAWNER_TOKEN_BUCKET"]
        assert token_file["value"].startswith(f"arn:aws:s3:::{bucket}/jupyterhub-tokens/")
        assert "JUPYTERHUB_API_TOKEN" not in json.dumps(run_task)

        # The server reaches the hub's API by the Spawner's URL (the Cloud Map name on AWS).
        environment = task_environment(task["taskArn"])
        api = f"http://localhost:{stack.hub_api_port}/hub/api"
        assert environment["JUPYTERHUB_API_URL"] == api

        # A user logs in at the hub and lands in JupyterLab, served from the task.
        status, url = await hub.log_in_and_open(user, server_path(user) + "lab")
        assert status == 200, (status, url)
        assert unquote(url).endswith(server_path(user) + "lab"), url
        token = await hub.user_token(user)
        assert await hub.through_proxy(server_path(user) + "api/status", token) == 200

        # Files survive a stop: written, server stopped and started again, still there.
        notebook = {"type": "file", "format": "text", "content": "kept"}
        status, _ = await hub.contents(user, "kept.txt", token, "PUT", notebook)
        assert status == 201, status
        await hub.stop(user)
        await assert_stopped_cleanly(stack, task["taskArn"])
        await spawn_ready(hub, user)
        status, body = await hub.contents(user, "kept.txt", token)
        assert (status, body["content"]) == (200, "kept"), body

        # Every call the hub and its reaper made, on the resources and with the context IAM
        # would see, is allowed by the stack's hub role (resolved with this stack's names).
        policy = hub_policy(names=stack.deployed.names(REGION, ACCOUNT))
        calls = hub_calls(stack)
        made = {call.action for call in calls}
        assert {"ecs:RunTask", "ecs:StopTask", "s3:ListBucket"} <= made, made  # List: the reaper
        assert denied(policy, calls) == []
        print("the hub's and the reaper's calls:", sorted(made))

        await hub.stop(user)
        # cleanup_servers is off (a replaced hub task leaves servers running): stop first.
        for left in stack.running_tasks():
            await assert_stopped_cleanly(stack, left)
