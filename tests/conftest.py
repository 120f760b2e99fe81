"""Shared fixtures: a moto server process on loopback, a clean AWS environment, spawners.

The moto server is a real HTTP server in its own process (not in-process mocks): awsspawner's
aiobotocore clients reach it through the standard AWS_ENDPOINT_URL variable, exactly as they
would reach AWS. Nothing here talks to any non-loopback address: instance metadata lookups are
disabled and fake keys are set.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from jupyterhub.objects import Hub

import awsspawner
from awsspawner import AWSSpawner
from awsspawner.profiles import options as profile_options

from .emulator.launcher import Emulator

REGION = "us-east-1"
CLUSTER = "notebooks"
FAMILY = "jupyter-notebook"
CONTAINER = "notebook"
BASE_IMAGE = "quay.io/jupyter/base-notebook:2026-01-01"
HERE = Path(__file__).parent


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: bytes = b"") -> None:
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
        pass


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server process on a free 127.0.0.1 port, for the whole test session.

    Plain moto's ECS and SSM behind the emulator's strict mode (tests/emulator/strict.py):
    requests real AWS refuses are refused here too."""
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.emulator.server",
            "--no-extensions",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=HERE.parent,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):  # noqa: S310
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start; see {log_path}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no metadata service, for every test (moto or not)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTS0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


@pytest.fixture
def moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A reset moto server, reached through AWS_ENDPOINT_URL; tasks do not age on their own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    _post(f"{moto_url}/moto-api/reset")
    frozen = {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}}
    _post(f"{moto_url}/moto-api/state-manager/set-transition", json.dumps(frozen).encode())
    return moto_url


@pytest.fixture(autouse=True)
def _fresh_once_per_process_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the spawner's once-per-process configuration warnings afresh."""
    monkeypatch.setattr(profile_options, "_WARNED", set())


@pytest.fixture(autouse=True)
async def _close_shared_clients() -> Any:
    yield
    await awsspawner.close_shared_clients()


def boto(service: str, moto_url: str) -> Any:
    """A plain boto3 client for setting up and inspecting moto from tests."""
    return boto3.client(service, region_name=REGION, endpoint_url=moto_url)


def fargate_task_definition(**changes: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "family": FAMILY,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "containerDefinitions": [
            {
                "name": CONTAINER,
                "image": BASE_IMAGE,
                "memory": 2048,
                "essential": True,
                "portMappings": [{"containerPort": 8888, "protocol": "tcp"}],
            }
        ],
        "tags": [{"key": "team", "value": "research"}],
    }
    definition.update(changes)
    return definition


@pytest.fixture
def ecs_setup(moto: str) -> SimpleNamespace:
    """A cluster, a VPC subnet and a Fargate task definition in moto."""
    ecs = boto("ecs", moto)
    ec2 = boto("ec2", moto)
    ecs.create_cluster(clusterName=CLUSTER)
    vpc = ec2.create_vpc(CidrBlock="127.0.0.0/16")["Vpc"]["VpcId"]
    # moto's Fargate ENIs need DNS hostnames on (else RunTask fails inside moto).
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="127.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="nb", Description="nb", VpcId=vpc)["GroupId"]
    taskdef = ecs.register_task_definition(**fargate_task_definition())["taskDefinition"]
    return SimpleNamespace(
        url=moto,
        ecs=ecs,
        ec2=ec2,
        subnet=subnet,
        group=group,
        taskdef_arn=taskdef["taskDefinitionArn"],
    )


class CallCounter:
    """Counts the AWS operations a client sends (botocore's before-call event)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    async def attach(self, spawner: AWSSpawner, service: str = "ecs") -> CallCounter:
        client = await spawner.aws_client(service)
        client.meta.events.register(f"before-call.{service}", self)
        return self


def stand_in_user(name: str = "alice") -> SimpleNamespace:
    """Stands in for jupyterhub.user.User: these tests drive the spawner without a hub (the
    end-to-end tests use a real one). Only what Spawner.get_env() reads is provided."""
    return SimpleNamespace(name=name, url=f"/user/{name}/", escaped_name=name, id=1, settings={})


def make_spawner(*, user: str = "alice", server_name: str = "", **config: Any) -> AWSSpawner:
    settings: dict[str, Any] = {
        "task_cluster_name": CLUSTER,
        "task_definition_family": FAMILY,
        "task_container_name": CONTAINER,
        "task_subnets": ["subnet-00000000"],
        "aws_max_attempts": 1,  # moto answers unimplemented calls with 500: do not retry them
        "startup_poll_interval": 0.05,
    }
    settings.update(config)
    spawner = AWSSpawner(
        user=stand_in_user(user),
        hub=Hub(),
        api_token="secret-api-token-0123456789",
        **settings,
    )
    spawner.orm_spawner = SimpleNamespace(name=server_name, server=None, state=None)
    return spawner


# ------------------------------------------------------------------------------ emulator


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[Emulator]:
    """The emulator server and its counting proxy, for the whole session."""
    emulator = Emulator().start()
    try:
        yield emulator
    finally:
        left = emulator.stop()
        assert not left, f"processes outlived the emulator: {left}"


@pytest.fixture
def emulator(emulator_session: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A reset emulator; awsspawner's clients reach it through the counting proxy.

    After the test every agent is stopped, and any process an agent started that is still
    alive fails the test.
    """
    emulator_session.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_session.proxy_url)
    yield emulator_session
    left = emulator_session.stop_agents()
    assert not left, f"processes left behind by this test: {left}"


#: The small Fargate task definition of the ``fargate`` fixture (RegisterTaskDefinition kwargs).
SMALL_FARGATE: dict[str, Any] = {
    "family": FAMILY,
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [{"name": CONTAINER, "image": "img:1", "memory": 512}],
}


@pytest.fixture
def fargate(emulator: Emulator) -> str:
    """A cluster with a small Fargate task definition; the emulator's loopback subnet."""
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(**SMALL_FARGATE)
    return emulator.loopback_subnet()
