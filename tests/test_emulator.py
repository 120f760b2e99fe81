"""The emulator itself: does it behave like ECS, SSM and a flaky network where we rely on it?"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from awsspawner.tools.cluster_query import ExpressionError, matches

from .emulator.launcher import Emulator, http
from .helpers import http_status, pid_alive

CLUSTER = "emulated"
# "0.0.0.0" inside a task: the agent rewrites it to the task's loopback address.
HTTP_SERVER = [sys.executable, "-m", "http.server", "8888", "--bind", "0.0.0.0"]  # noqa: S104


def wait_for(predicate: Any, timeout: float = 20, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def register(
    ecs: Any,
    family: str,
    network_mode: str,
    command: list[str],
    *,
    image: str = "local/http-server:1",
    container_memory: int = 256,
    **extra: Any,
) -> str:
    container = {
        "name": "notebook",
        "image": image,
        "memory": container_memory,
        "essential": True,
        "command": command,
        "portMappings": [{"containerPort": 8888, "protocol": "tcp"}],
    }
    compat = ["FARGATE"] if network_mode == "awsvpc" else ["EC2", "EXTERNAL"]
    answer = ecs.register_task_definition(
        family=family,
        networkMode=network_mode,
        requiresCompatibilities=compat,
        containerDefinitions=[container],
        **extra,
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def describe(ecs: Any, arn: str) -> dict[str, Any]:
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]  # type: ignore[no-any-return]


def status_is(ecs: Any, arn: str, status: str) -> dict[str, Any] | None:
    task = describe(ecs, arn)
    return task if task["lastStatus"] == status else None


@pytest.fixture
def ecs(emulator: Emulator) -> Any:
    client = emulator.client("ecs")
    client.create_cluster(clusterName=CLUSTER)
    return client


def test_agent_task_lifecycle_with_a_real_server(emulator: Emulator, ecs: Any) -> None:
    agent = emulator.add_agent(CLUSTER, address="127.0.0.11", options=["--pull-delay", "0.3"])
    register(ecs, "web", "bridge", HTTP_SERVER)
    started = time.monotonic()
    task = ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2")["tasks"][0]
    arn = task["taskArn"]
    assert task["lastStatus"] == "PROVISIONING"
    assert task["containerInstanceArn"] == agent.container_instance_arn
    seen = {task["lastStatus"]}
    while (current := describe(ecs, arn))["lastStatus"] != "RUNNING":
        seen.add(current["lastStatus"])
        assert time.monotonic() - started < 20
        time.sleep(0.02)
    assert "PENDING" in seen
    running = current
    assert running["pullStartedAt"] < running["pullStoppedAt"] <= running["startedAt"]
    container = running["containers"][0]
    (binding,) = container["networkBindings"]
    assert binding["containerPort"] == 8888
    assert binding["hostPort"] != 8888  # ECS (the agent) chose a host port
    # The address of an EC2 node: its instance's private IP, as the spawner will look it up.
    instance = emulator.client("ec2").describe_instances(InstanceIds=[agent.instance_id])
    address = instance["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    assert address == "127.0.0.11"
    assert wait_for(lambda: http_status(f"http://{address}:{binding['hostPort']}/")) == 200
    pid = int(container["runtimeId"])
    assert pid_alive(pid)

    stopping = ecs.stop_task(cluster=CLUSTER, task=arn, reason="Stopped by test")["task"]
    assert stopping["desiredStatus"] == "STOPPED"
    stopped = wait_for(lambda: status_is(ecs, arn, "STOPPED"))
    assert stopped["stopCode"] == "UserInitiated"
    assert stopped["stoppedReason"] == "Stopped by test"
    assert stopped["containers"][0]["exitCode"] == 143  # SIGTERM, reported as Docker does
    assert wait_for(lambda: not pid_alive(pid))


def test_exiting_process_reports_essential_container_exited(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.12")
    register(ecs, "crash", "bridge", [sys.executable, "-c", "import sys; sys.exit(3)"])
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition="crash", launchType="EC2")["tasks"][0][
        "taskArn"
    ]
    stopped = wait_for(lambda: status_is(ecs, arn, "STOPPED"))
    assert stopped["stopCode"] == "EssentialContainerExited"
    assert stopped["stoppedReason"] == "Essential container in task exited"
    assert stopped["containers"][0]["exitCode"] == 3


def test_failing_image_and_held_pending(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(
        CLUSTER,
        address="127.0.0.13",
        options=[
            "--hold-pending", "0.8",
            "--fail-image", "broken=CannotPullContainerError: pull access denied for broken",
        ],
    )  # fmt: skip
    register(ecs, "broken", "bridge", HTTP_SERVER, image="example.org/broken:1")
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition="broken", launchType="EC2")["tasks"][0][
        "taskArn"
    ]
    pending = wait_for(lambda: status_is(ecs, arn, "PENDING"))
    assert pending["desiredStatus"] == "RUNNING"
    time.sleep(0.4)
    assert describe(ecs, arn)["lastStatus"] == "PENDING"  # held
    stopped = wait_for(lambda: status_is(ecs, arn, "STOPPED"))
    assert stopped["stopCode"] == "TaskFailedToStart"
    assert stopped["stoppedReason"].startswith("CannotPullContainerError")
    assert stopped["containers"][0]["reason"].startswith("CannotPullContainerError")


def test_stop_while_pending_never_starts_a_process(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.14", options=["--hold-pending", "30"])
    register(ecs, "web", "bridge", HTTP_SERVER)
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2")["tasks"][0][
        "taskArn"
    ]
    wait_for(lambda: status_is(ecs, arn, "PENDING"))
    ecs.stop_task(cluster=CLUSTER, task=arn, reason="user pressed stop")
    stopped = wait_for(lambda: status_is(ecs, arn, "STOPPED"))
    assert stopped["stopCode"] == "UserInitiated"
    assert "runtimeId" not in stopped["containers"][0]


def test_fargate_agent_runs_tasks_on_loopback_enis(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, fargate=True)
    subnet = emulator.loopback_subnet()
    register(ecs, "fg", "awsvpc", HTTP_SERVER, cpu="256", memory="512")
    tasks = [
        ecs.run_task(
            cluster=CLUSTER,
            taskDefinition="fg",
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": []}
            },
        )["tasks"][0]
        for _ in range(2)
    ]
    addresses = []
    for task in tasks:
        assert task["lastStatus"] == "PROVISIONING"
        running = wait_for(lambda t=task: status_is(ecs, t["taskArn"], "RUNNING"))
        details = {d["name"]: d["value"] for d in running["attachments"][0]["details"]}
        address = details["privateIPv4Address"]
        assert address.startswith("127.")
        addresses.append(address)
        assert wait_for(lambda a=address: http_status(f"http://{a}:8888/")) == 200
    assert len(set(addresses)) == 2  # each task its own ENI address


def test_external_host_mode_on_a_managed_instance(emulator: Emulator, ecs: Any) -> None:
    agent = emulator.add_agent(CLUSTER, instance_id="mi-0000000000000aaaa", address="127.0.0.15")
    register(ecs, "hosted", "host", HTTP_SERVER)
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition="hosted", launchType="EXTERNAL")["tasks"][0][
        "taskArn"
    ]
    running = wait_for(lambda: status_is(ecs, arn, "RUNNING"))
    (binding,) = running["containers"][0]["networkBindings"]
    assert binding["hostPort"] == binding["containerPort"] == 8888
    instances = ecs.describe_container_instances(
        cluster=CLUSTER, containerInstances=[agent.container_instance_arn]
    )["containerInstances"]
    assert instances[0]["ec2InstanceId"] == "mi-0000000000000aaaa"
    assert wait_for(lambda: http_status("http://127.0.0.15:8888/")) == 200


def test_client_token_replays_the_same_task(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.16", options=["--hold-pending", "30"])
    register(ecs, "web", "bridge", HTTP_SERVER)
    first = ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2", clientToken="t-1")
    again = ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2", clientToken="t-1")
    assert again["tasks"][0]["taskArn"] == first["tasks"][0]["taskArn"]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.run_task(
            cluster=CLUSTER, taskDefinition="web", launchType="EC2", clientToken="t-1", count=1,
            startedBy="someone-else",
        )  # fmt: skip
    assert caught.value.response["Error"]["Code"] == "ConflictException"
    assert len(ecs.list_tasks(cluster=CLUSTER)["taskArns"]) == 1


def test_placement_constraints_place_and_refuse(emulator: Emulator, ecs: Any) -> None:
    dev = emulator.add_agent(
        CLUSTER,
        instance_id="mi-00000000000000dev",
        address="127.0.0.17",
        attributes={"environment": "development"},
        options=["--hold-pending", "30"],
    )
    prod = emulator.add_agent(
        CLUSTER,
        instance_id="mi-0000000000000prod",
        address="127.0.0.18",
        attributes={"environment": "production", "gpu-enabled": "true"},
        options=["--hold-pending", "30"],
    )
    register(ecs, "web", "bridge", HTTP_SERVER)

    def run(*constraints: dict[str, str], **extra: Any) -> dict[str, Any]:
        return ecs.run_task(  # type: ignore[no-any-return]
            cluster=CLUSTER,
            taskDefinition="web",
            launchType="EXTERNAL",
            placementConstraints=list(constraints),
            **extra,
        )

    placed = run({"type": "memberOf", "expression": "attribute:environment == production"})
    assert placed["tasks"][0]["containerInstanceArn"] == prod.container_instance_arn
    placed = run({"type": "memberOf", "expression": "attribute:environment =~ dev.*"})
    assert placed["tasks"][0]["containerInstanceArn"] == dev.container_instance_arn
    placed = run(
        {"type": "memberOf", "expression": "attribute:environment in [staging, production]"},
        {"type": "memberOf", "expression": "attribute:gpu-enabled == true"},
    )
    assert placed["tasks"][0]["containerInstanceArn"] == prod.container_instance_arn
    refused = run({"type": "memberOf", "expression": "attribute:environment == staging"})
    assert refused["tasks"] == []
    assert refused["failures"][0]["reason"] == "MemberOf placement constraint unsatisfied."
    # distinctInstance: a group already on both nodes has nowhere else to go.
    run({"type": "distinctInstance"}, group="solo")
    run({"type": "distinctInstance"}, group="solo")
    third = run({"type": "distinctInstance"}, group="solo")
    assert third["failures"][0]["reason"].startswith("DistinctInstance")
    # EC2 tasks never land on ECS Anywhere nodes.
    with pytest.raises(botocore.exceptions.ClientError, match="No Container Instances"):
        ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2")


def test_capacity_failures_come_back_in_failures(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.19", options=["--memory", "1024"])
    register(ecs, "huge", "bridge", HTTP_SERVER, container_memory=4096)
    answer = ecs.run_task(cluster=CLUSTER, taskDefinition="huge", launchType="EC2")
    assert answer["tasks"] == []
    assert answer["failures"][0]["reason"] == "RESOURCE:MEMORY"


def test_ecs_like_answers_for_unknown_tasks(emulator: Emulator, ecs: Any) -> None:
    unknown = "arn:aws:ecs:us-east-1:123456789012:task/emulated/0123456789abcdef"
    answer = ecs.describe_tasks(cluster=CLUSTER, tasks=[unknown])
    assert answer["tasks"] == []
    assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    with pytest.raises(botocore.exceptions.ClientError, match="more than 100"):
        ecs.describe_tasks(cluster=CLUSTER, tasks=[f"{unknown}{i}" for i in range(101)])
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.stop_task(cluster=CLUSTER, task=unknown)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.describe_tasks(cluster="no-such-cluster", tasks=[unknown])
    assert caught.value.response["Error"]["Code"] == "ClusterNotFoundException"


def test_external_task_definitions_keep_their_network_mode(ecs: Any) -> None:
    for mode in ("bridge", "host", "none"):
        arn = register(ecs, f"ext-{mode}", mode, HTTP_SERVER)
        described = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        assert described["networkMode"] == mode


def test_ssm_answers_for_managed_instances(emulator: Emulator, ecs: Any) -> None:
    interfaces = [
        {"Name": "lo", "IPV4": "127.0.0.1"},
        {"Name": "docker0", "IPV4": "172.17.0.1"},
        {"Name": "eth0", "IPV4": "127.0.0.20"},
    ]
    emulator.add_agent(
        CLUSTER,
        instance_id="mi-0000000000000ssm1",
        address="127.0.0.20",
        options=[
            "--ssm-ip", "172.17.0.1", "--interfaces", json.dumps(interfaces),
            "--command-output", "127.0.0.20 172.17.0.1",
        ],
    )  # fmt: skip
    ssm = emulator.client("ssm")
    info = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": ["mi-0000000000000ssm1"]}]
    )["InstanceInformationList"]
    assert [(i["InstanceId"], i["IPAddress"]) for i in info] == [
        ("mi-0000000000000ssm1", "172.17.0.1")  # what the SSM agent reports on Docker hosts
    ]
    entries = ssm.list_inventory_entries(InstanceId="mi-0000000000000ssm1", TypeName="AWS:Network")[
        "Entries"
    ]
    assert [e["Name"] for e in entries] == ["lo", "docker0", "eth0"]
    command = ssm.send_command(
        InstanceIds=["mi-0000000000000ssm1"],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["hostname -I"]},
    )["Command"]["CommandId"]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ssm.get_command_invocation(CommandId=command, InstanceId="mi-0000000000000ssm1")
    assert caught.value.response["Error"]["Code"] == "InvocationDoesNotExist"
    output = wait_for(lambda: _invocation(ssm, command))
    assert output["Status"] == "Success"
    assert output["StandardOutputContent"] == "127.0.0.20 172.17.0.1"


def _invocation(ssm: Any, command: str) -> dict[str, Any] | None:
    try:
        return ssm.get_command_invocation(  # type: ignore[no-any-return]
            CommandId=command, InstanceId="mi-0000000000000ssm1"
        )
    except botocore.exceptions.ClientError:
        return None


def test_proxy_counts_calls_and_ids(emulator: Emulator, ecs: Any) -> None:
    proxied = emulator.client("ecs", through_proxy=True)
    unknown = [f"arn:aws:ecs:us-east-1:123456789012:task/emulated/{i:032x}" for i in range(7)]
    proxied.describe_tasks(cluster=CLUSTER, tasks=unknown)
    proxied.describe_tasks(cluster=CLUSTER, tasks=unknown[:2])
    proxied.list_clusters()
    emulator.client("ec2", through_proxy=True).describe_instances()
    stats = emulator.stats()
    assert stats["calls"]["ecs:DescribeTasks"] == 2
    assert stats["ids"]["ecs:DescribeTasks"] == [7, 2]
    assert stats["calls"]["ecs:ListClusters"] == 1
    assert stats["calls"]["ec2:DescribeInstances"] == 1


def _throttled_pattern(emulator: Emulator, seed: int, calls: int) -> list[bool]:
    emulator.faults([{"operation": "ecs:ListClusters", "kind": "throttle", "rate": 0.3}], seed)
    client = _no_retries(emulator.proxy_url)
    codes = []
    for _ in range(calls):
        try:
            client.list_clusters()
            codes.append("")
        except botocore.exceptions.ClientError as error:
            codes.append(error.response["Error"]["Code"])
    assert set(codes) <= {"", "ThrottlingException"}
    return [bool(code) for code in codes]


def _no_retries(url: str) -> Any:
    """A boto3 client that makes exactly one attempt per call (faults show as they are)."""
    return boto3.client(
        "ecs",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_faults_are_injected_at_the_asked_rate_repeatably(emulator: Emulator, ecs: Any) -> None:
    first = _throttled_pattern(emulator, seed=7, calls=200)
    rate = sum(first) / len(first)
    assert 0.2 < rate < 0.4  # 30% asked; 200 draws
    assert emulator.stats()["faults"]["ecs:ListClusters"]["throttle"] == sum(first)
    http("POST", f"{emulator.proxy_url}/_proxy/reset")
    assert _throttled_pattern(emulator, seed=7, calls=200) == first  # same seed, same faults


def test_lost_answer_still_acts_and_drop_does_not(emulator: Emulator, ecs: Any) -> None:
    register(ecs, "fg", "awsvpc", HTTP_SERVER, cpu="256", memory="512")
    network = {
        "awsvpcConfiguration": {"subnets": [emulator.loopback_subnet()], "securityGroups": []}
    }
    client = _no_retries(emulator.proxy_url)
    for kind, tasks_after in (("drop", 0), ("lost", 1)):
        emulator.faults([{"operation": "ecs:RunTask", "kind": kind, "rate": 1.0}])
        with pytest.raises(botocore.exceptions.BotoCoreError):
            client.run_task(
                cluster=CLUSTER, taskDefinition="fg", launchType="FARGATE",
                networkConfiguration=network, startedBy=kind,
            )  # fmt: skip
        assert len(ecs.list_tasks(cluster=CLUSTER, startedBy=kind)["taskArns"]) == tasks_after


def test_slow_answers_are_slow(emulator: Emulator, ecs: Any) -> None:
    emulator.faults([{"operation": "ecs:ListClusters", "kind": "slow", "rate": 1.0, "delay": 0.5}])
    client = emulator.client("ecs", through_proxy=True)
    started = time.monotonic()
    client.list_clusters()
    assert time.monotonic() - started >= 0.5


def test_agents_leave_no_process_behind(emulator: Emulator, ecs: Any) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.21")
    register(ecs, "web", "bridge", HTTP_SERVER)
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition="web", launchType="EC2")["tasks"][0][
        "taskArn"
    ]
    running = wait_for(lambda: status_is(ecs, arn, "RUNNING"))
    pid = int(running["containers"][0]["runtimeId"])
    assert emulator.stop_agents() == []  # the agent took its task's process with it
    assert not pid_alive(pid)
    assert describe(ecs, arn)["lastStatus"] == "STOPPED"


def test_placement_expressions() -> None:
    attributes = {"ecs.instance-type": "t3.large", "gpu": "true"}
    assert matches("attribute:ecs.instance-type =~ t3.*", attributes)
    assert not matches("attribute:ecs.instance-type =~ m5.*", attributes)
    assert matches("attribute:gpu != false and attribute:gpu exists", attributes)
    assert matches("attribute:gpu == false or attribute:gpu == true", attributes)
    assert matches("attribute:zone not_exists", attributes)
    assert matches("attribute:gpu not_in [false, maybe]", attributes)
    with pytest.raises(ExpressionError):
        matches("gpu == true", attributes)


def test_selftest_passes_and_notices_a_moved_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.ecs import models

    from .emulator import server

    server.selftest()
    monkeypatch.delattr(models.EC2ContainerServiceBackend, "update_container_instance_resources")
    with pytest.raises(RuntimeError, match="update_container_instance_resources is gone"):
        server.selftest()
