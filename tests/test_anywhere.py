"""ECS Anywhere: node addresses, host and bridge networking, dynamic ports, placement.

Nodes are local ECS agents on 127.0.0.x addresses; their SSM view (the address the SSM agent
reports, the inventory's interfaces, what a command prints) is declared per node. Servers are
real HTTP servers (tests/fake_notebook.py) and every URL a spawn returns is fetched.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyterhub.spawner import SpawnException

from awsspawner import AWSSpawner
from awsspawner.endpoints.node_address import (
    AddressPolicy,
    ContainerAttributeSource,
    Node,
    NodeAddressCache,
    SSMCommandSource,
    SSMInventorySource,
    parse_command_output,
)
from awsspawner.endpoints.ports import NoFreePortError, choose_port
from awsspawner.endpoints.resolvers import HostNetworkResolver, ResolveContext, tcp_reachable
from awsspawner.launch.task_definitions import TaskDefinitionInfo

from .conftest import CLUSTER, CONTAINER, make_spawner
from .emulator.launcher import Agent, Emulator
from .helpers import http_status
from .test_requests import load_config

FAKE_NOTEBOOK = [sys.executable, str(Path(__file__).with_name("fake_notebook.py"))]
DOCKER_HOST = [
    {"Name": "lo", "IPV4": "127.0.0.1"},
    {"Name": "docker0", "IPV4": "172.17.0.1"},
    {"Name": "veth1a2b", "IPV4": ""},
]
IP_ADDR_OUTPUT = (
    "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n"
    "2: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\n"
    "3: eth0    inet {address}/24 brd 127.0.0.255 scope global eth0\\       valid_lft forever\n"
)


def register(ecs: Any, family: str, network_mode: str, ports: bool = True) -> None:
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": "quay.io/jupyter/base-notebook:2026-01-01",
        "memory": 256,
        "command": ["start-notebook.sh"],
    }
    if ports:
        container["portMappings"] = [{"containerPort": 8888, "protocol": "tcp"}]
    ecs.register_task_definition(
        family=family,
        networkMode=network_mode,
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[container],
    )


@pytest.fixture
def ecs(emulator: Emulator) -> Any:
    client = emulator.client("ecs")
    client.create_cluster(clusterName=CLUSTER)
    register(client, "anywhere-bridge", "bridge")
    register(client, "anywhere-host", "host", ports=False)  # dynamic ports: no mapping
    return client


def node(
    emulator: Emulator,
    name: str,
    address: str,
    *,
    ssm_ip: str = "172.17.0.1",
    interfaces: list[dict[str, str]] | None = None,
    command_output: str = "",
    attributes: dict[str, str] | None = None,
) -> Agent:
    """An ECS Anywhere node whose SSM agent reports docker0, like many real ones."""
    return emulator.add_agent(
        CLUSTER,
        instance_id=f"mi-{name:0>17}",
        address=address,
        attributes=attributes,
        options=[
            "--ssm-ip", ssm_ip,
            "--interfaces", json.dumps(interfaces if interfaces is not None else DOCKER_HOST),
            "--command-output", command_output,
        ],
    )  # fmt: skip


def anywhere_spawner(family: str = "anywhere-bridge", **config: Any) -> AWSSpawner:
    return make_spawner(
        launch_type="EXTERNAL",
        task_definition_family=family,
        task_subnets=[],
        cmd=FAKE_NOTEBOOK,
        **config,
    )


async def spawn_and_fetch(spawner: AWSSpawner) -> str:
    url = await spawner.start()
    deadline = time.monotonic() + 15
    while await asyncio.to_thread(http_status, url + "/") != 200:
        assert time.monotonic() < deadline, f"{url} never answered"
        await asyncio.sleep(0.05)
    return url


def resolved_by(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage().rsplit("found by ", 1)[1].rstrip(")")
        for r in caplog.records
        if "found by" in r.getMessage()
    ]


# --------------------------------------------------------------- which resolver answers


async def test_inventory_skips_docker_and_finds_the_node(
    emulator: Emulator, ecs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    interfaces = [*DOCKER_HOST, {"Name": "eth0", "IPV4": "127.0.0.71"}]
    node(emulator, "a71", "127.0.0.71", interfaces=interfaces)
    caplog.set_level("INFO", logger="awsspawner")
    spawner = anywhere_spawner()
    url = await spawn_and_fetch(spawner)
    assert url.startswith("http://127.0.0.71:")
    # SSM's IPAddress (docker0) was refused; the inventory's eth0 answered.
    assert resolved_by(caplog) == ["network-bindings+ssm-inventory"]
    await spawner.stop()


async def test_an_operator_attribute_pins_the_address(
    emulator: Emulator, ecs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node(emulator, "a72", "127.0.0.72", attributes={"jupyterhub.address": "127.0.0.72"})
    caplog.set_level("INFO", logger="awsspawner")
    spawner = anywhere_spawner()
    url = await spawn_and_fetch(spawner)
    assert url.startswith("http://127.0.0.72:")
    assert resolved_by(caplog) == ["network-bindings+container-attribute"]
    await spawner.stop()


async def test_ssm_command_is_the_last_resort(
    emulator: Emulator, ecs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node(emulator, "a73", "127.0.0.73", command_output=IP_ADDR_OUTPUT.format(address="127.0.0.73"))
    caplog.set_level("INFO", logger="awsspawner")
    spawner = anywhere_spawner()
    url = await spawn_and_fetch(spawner)
    assert url.startswith("http://127.0.0.73:")
    assert resolved_by(caplog) == ["network-bindings+ssm-command"]
    stats = emulator.stats()["calls"]
    assert stats["ssm:SendCommand"] == 1
    assert stats["ssm:GetCommandInvocation"] >= 2  # polled through InvocationDoesNotExist
    # A second spawn on that node uses the cached address: no more SSM calls.
    second = anywhere_spawner(user="bob")
    await spawn_and_fetch(second)
    assert emulator.stats()["calls"]["ssm:SendCommand"] == 1
    for spawner_ in (spawner, second):
        await spawner_.stop()


async def test_ssm_information_answers_when_it_reports_a_good_address(
    emulator: Emulator, ecs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node(emulator, "a74", "127.0.0.74", ssm_ip="127.0.0.74")
    caplog.set_level("INFO", logger="awsspawner")
    spawner = anywhere_spawner()
    await spawn_and_fetch(spawner)
    assert resolved_by(caplog) == ["network-bindings+ssm-instance-information"]
    await spawner.stop()


async def test_when_nothing_works_the_error_says_what_each_resolver_saw(
    emulator: Emulator, ecs: Any
) -> None:
    node(emulator, "a75", "127.0.0.75", command_output="garbage; not an address 999.1.2.3\n")
    spawner = anywhere_spawner()
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    message = caught.value.message
    assert "Cannot find your server's address" in message
    for name in ("container-attribute", "ssm-instance-information", "ssm-inventory", "ssm-command"):
        assert f"{name}: no usable address" in message
    assert cluster_running(ecs) == []  # the task was stopped


async def test_an_unreachable_ssm_endpoint_moves_the_chain_on(
    emulator: Emulator, ecs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SSM cannot be reached at all (a closed loopback port: botocore raises
    # EndpointConnectionError, not a ClientError). Each SSM source says so, and the chain goes
    # on; here nothing else answers, so the message lists what every source saw.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:9")
    node(emulator, "a79", "127.0.0.79")
    spawner = anywhere_spawner(
        aws_max_attempts=1,
        aws_connect_timeout=1,
        address_resolvers=["ssm-instance-information", "ssm-inventory", "container-attribute"],
    )
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    message = caught.value.message
    assert "Cannot find your server's address" in message
    assert "ssm-instance-information: failed: no answer from AWS" in message
    assert "ssm-inventory: failed: no answer from AWS" in message
    assert "container-attribute: no usable address" in message  # the chain went on
    assert cluster_running(ecs) == []


def cluster_running(ecs: Any) -> list[str]:
    return ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------- ports and modes


async def test_two_host_mode_servers_on_one_node_get_different_ports(
    emulator: Emulator, ecs: Any
) -> None:
    node(emulator, "a76", "127.0.0.76", attributes={"jupyterhub.address": "127.0.0.76"})
    first = anywhere_spawner("anywhere-host", use_dynamic_port=True, port_range_start=9100,
                             port_range_end=9199)  # fmt: skip
    second = anywhere_spawner("anywhere-host", user="bob", use_dynamic_port=True,
                              port_range_start=9100, port_range_end=9199)  # fmt: skip
    urls = await asyncio.gather(spawn_and_fetch(first), spawn_and_fetch(second))
    ports = {int(url.rsplit(":", 1)[1]) for url in urls}
    assert len(ports) == 2
    assert all(9100 <= port <= 9199 for port in ports)
    assert first.get_state()["task_port"] == str(first.port)
    # A third spawn avoids both ports, learning them from the tasks' tags.
    third = anywhere_spawner("anywhere-host", user="carol", use_dynamic_port=True,
                             port_range_start=9100, port_range_end=9102)  # fmt: skip
    third_url = await spawn_and_fetch(third)
    assert int(third_url.rsplit(":", 1)[1]) not in ports
    for spawner in (first, second, third):
        await spawner.stop()


async def test_concurrent_picks_never_share_a_port(emulator: Emulator, ecs: Any) -> None:
    # Ten spawns of one hub pick at once from ten ports, each with its own ListTasks and
    # DescribeTasks against ECS in between: every one must get a different port.
    node(emulator, "a78", "127.0.0.78", attributes={"jupyterhub.address": "127.0.0.78"})
    spawner = anywhere_spawner("anywhere-host")
    gateway = spawner.ecs_gateway()
    reserved: set[int] = set()
    picks = await asyncio.gather(
        *(
            choose_port(gateway, CLUSTER, "jupyterhub-jupyterhub", 8000, 8009, reserved)
            for _ in range(10)
        )
    )
    assert sorted(picks) == list(range(8000, 8010))
    assert reserved == set(picks)
    with pytest.raises(NoFreePortError):
        await choose_port(gateway, CLUSTER, "jupyterhub-jupyterhub", 8000, 8009, reserved)


async def test_a_full_port_range_fails_clearly(emulator: Emulator, ecs: Any) -> None:
    node(emulator, "a77", "127.0.0.77", attributes={"jupyterhub.address": "127.0.0.77"})
    first = anywhere_spawner("anywhere-host", use_dynamic_port=True, port_range_start=9200,
                             port_range_end=9200)  # fmt: skip
    await spawn_and_fetch(first)
    second = anywhere_spawner("anywhere-host", user="bob", use_dynamic_port=True,
                              port_range_start=9200, port_range_end=9200)  # fmt: skip
    with pytest.raises(SpawnException, match="ports from 9200 to 9200 are in use"):
        await second.start()
    await first.stop()


async def test_seed_readme_profiles_place_tasks_by_node_attributes(
    emulator: Emulator, ecs: Any
) -> None:
    dev = node(
        emulator,
        "dev01",
        "127.0.0.78",
        attributes={"environment": "development", "jupyterhub.address": "127.0.0.78"},
    )
    prod = node(
        emulator,
        "prod01",
        "127.0.0.79",
        attributes={"environment": "production", "jupyterhub.address": "127.0.0.79"},
    )
    config = load_config("seed_readme_profiles.py")
    spawner = anywhere_spawner("anywhere-host", config=config)
    for slug, expected in (("dev", dev), ("prod", prod)):
        spawner.user_options = {"profile": slug}
        url = await spawn_and_fetch(spawner)
        task = ecs.describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])["tasks"][0]
        assert task["containerInstanceArn"] == expected.container_instance_arn
        assert url.startswith(f"http://{expected.address}:")
        assert 8000 <= spawner.port <= 9000  # the README's dynamic port range
        await spawner.stop()
    spawner.user_options = {"profile": "gpu-anywhere"}  # no node has gpu-enabled == true
    with pytest.raises(SpawnException, match="MemberOf placement constraint unsatisfied"):
        await spawner.start()


# -------------------------------------------------------------- resolvers on their own


class Stub:
    """Stands in for the SSM client where the emulator cannot show the case: every answer
    here is one real SSM gives, written down."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def list_inventory_entries(self, **_: Any) -> dict[str, Any]:
        self.calls.append("ListInventoryEntries")
        return {"Entries": self.answers["entries"]}


async def clients_with(stub: Stub) -> Any:
    async def clients(_service: str) -> Any:
        return stub

    return clients


MI = Node(arn="arn:ci/1", instance_id="mi-0123456789abcdef0", attributes={})


async def test_inventory_with_only_docker_interfaces_says_nothing() -> None:
    stub = Stub(entries=DOCKER_HOST)
    assert await SSMInventorySource().address(MI, await clients_with(stub), AddressPolicy()) is None


async def test_inventory_honours_the_preferred_interface_and_cidrs() -> None:
    stub = Stub(
        entries=[{"Name": "eth0", "IPV4": "10.0.0.5"}, {"Name": "eth1", "IPV4": "10.9.0.5"}]
    )
    clients = await clients_with(stub)
    assert await SSMInventorySource().address(MI, clients, AddressPolicy()) == "10.0.0.5"
    assert (
        await SSMInventorySource().address(MI, clients, AddressPolicy(interface="eth1"))
        == "10.9.0.5"
    )
    assert (
        await SSMInventorySource().address(
            MI, clients, AddressPolicy(allowed_cidrs=("10.9.0.0/16",))
        )
        == "10.9.0.5"
    )


async def test_attribute_resolver_respects_the_policy() -> None:
    pinned = Node("arn:ci/2", "mi-1", {"jupyterhub.address": "169.254.1.1"})
    resolver = ContainerAttributeSource("jupyterhub.address")
    assert await resolver.address(pinned, await clients_with(Stub()), AddressPolicy()) is None


def test_command_output_parsing() -> None:
    rows = parse_command_output(IP_ADDR_OUTPUT.format(address="10.1.2.3"))
    assert rows == [("lo", "127.0.0.1"), ("docker0", "172.17.0.1"), ("eth0", "10.1.2.3")]
    assert AddressPolicy().pick(rows) == "10.1.2.3"
    assert parse_command_output("10.1.2.3 172.17.0.1 fe80::1\n") == [
        ("", "10.1.2.3"),
        ("", "172.17.0.1"),
    ]
    assert parse_command_output("") == []
    assert parse_command_output("error: permission denied 999.1.1.1") == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_command_output_parsing_never_fails(output: str) -> None:
    for _interface, address in parse_command_output(output):
        assert address.count(".") == 3


async def test_a_stale_cached_address_is_dropped_for_the_next_resolver() -> None:
    """The hub cannot reach the cached address: the chain runs again. (The probe is a
    stand-in: a really unreachable address is not on loopback, and tests dial only loopback.)"""
    cache = NodeAddressCache(ttl=300)
    cache.put(MI.arn, "10.0.0.99", "ssm-inventory")
    probed: list[str] = []

    async def probe(ip: str, port: int) -> bool:
        probed.append(ip)
        return ip != "10.0.0.99"

    class Gateway:
        async def describe_container_instances(self, cluster: str, arns: list[str]) -> Any:
            return {
                MI.arn: {
                    "containerInstanceArn": MI.arn,
                    "ec2InstanceId": MI.instance_id,
                    "attributes": [{"name": "jupyterhub.address", "value": "10.0.0.7"}],
                }
            }

    ctx = ResolveContext(
        task={"taskArn": "arn:task/1", "containerInstanceArn": MI.arn, "containers": []},
        taskdef=TaskDefinitionInfo("arn:td", "f", "host", {CONTAINER: "img"}),
        container_name=CONTAINER,
        port=9000,
        cluster=CLUSTER,
        gateway=Gateway(),  # type: ignore[arg-type]
        clients=await clients_with(Stub()),
        chain=[ContainerAttributeSource("jupyterhub.address")],
        cache=cache,
        probe=probe,
    )
    endpoint = await HostNetworkResolver().resolve(ctx)
    assert endpoint is not None
    assert (endpoint.ip, endpoint.port) == ("10.0.0.7", 9000)
    assert probed == ["10.0.0.99", "10.0.0.7"]
    assert cache.get(MI.arn) == ("10.0.0.7", "container-attribute")
    assert "unreachable" in ctx.seen["cache (ssm-inventory)"]


async def test_reachability_probe_on_loopback() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.80", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await tcp_reachable("127.0.0.80", port)
    finally:
        server.close()
        await server.wait_closed()
    assert await tcp_reachable("127.0.0.80", port)  # refused: the host is there


async def test_ssm_command_sends_one_fixed_command_to_one_node() -> None:
    sent: list[dict[str, Any]] = []

    class SSM:
        async def send_command(self, **params: Any) -> dict[str, Any]:
            sent.append(params)
            return {"Command": {"CommandId": "c-1"}}

        async def get_command_invocation(self, **_: Any) -> dict[str, Any]:
            return {"Status": "Success", "StandardOutputContent": "10.3.3.3\n"}

    async def clients(_service: str) -> Any:
        return SSM()

    address = await SSMCommandSource(timeout=5).address(MI, clients, AddressPolicy())
    assert address == "10.3.3.3"
    (params,) = sent
    assert params["InstanceIds"] == [MI.instance_id]
    assert params["DocumentName"] == "AWS-RunShellScript"
    assert params["Parameters"] == {
        "commands": ["ip -4 -o addr show scope global 2>/dev/null || hostname -I"]
    }


async def test_a_port_taken_by_another_process_is_retried_on_another(
    emulator: Emulator, ecs: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    node(emulator, "a81", "127.0.0.81", attributes={"jupyterhub.address": "127.0.0.81"})
    # Something else on the node holds 9300; the spawner is made to try the lowest free port
    # first (it picks at random), so its first server fails to bind and exits at once.
    monkeypatch.setattr("awsspawner.endpoints.ports.random.choice", min)
    squatter = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.81", 9300)
    try:
        spawner = anywhere_spawner("anywhere-host", use_dynamic_port=True,
                                   port_range_start=9300, port_range_end=9301)  # fmt: skip
        url = await spawn_and_fetch(spawner)
        assert url.endswith(":9301")
        assert "Retrying on another port" in caplog.text
        assert spawner.get_state()["task_port"] == "9301"
        await spawner.stop()
        assert cluster_running(ecs) == []
    finally:
        squatter.close()
        await squatter.wait_closed()
