"""Where is a container instance? The node-address sources, in the order admins choose
(``c.AWSSpawner.address_resolvers``).

A task in bridge or host mode listens on its node; the node's address is not in the task's
description. For EC2 nodes EC2 knows it; for ECS Anywhere (``mi-``) nodes only the operator or
the SSM agent does, and the SSM agent often reports the wrong interface (docker0's 172.17.0.1,
an unreachable NIC). So several resolvers are asked in turn
(``c.AWSSpawner.address_resolvers``), each returning an address or None:

* ``container-attribute``: the container instance attribute the operator set
  (``c.AWSSpawner.node_address_attribute``, default ``jupyterhub.address``);
* ``ec2-instance``: EC2 DescribeInstances, private IP, for ``i-`` instances;
* ``ssm-instance-information``: SSM DescribeInstanceInformation's IPAddress, ``mi-`` only;
* ``ssm-inventory``: SSM inventory ``AWS:Network`` rows, skipping loopback, docker, bridge and
  veth interfaces and link-local addresses, preferring ``c.AWSSpawner.node_interface``;
* ``ssm-command``: SSM SendCommand ``AWS-RunShellScript`` running one fixed command (which
  lists the node's addresses) on that one managed instance; never any user input.

Every address passes :class:`AddressPolicy` (``node_address_cidrs`` to pin, exclusions to
skip). Answers are cached per container instance for ``node_address_cache_seconds``; an
address the hub cannot reach is dropped from the cache and the next resolver is asked.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import AWSError, aws_call

__all__ = [
    "ADDRESS_RESOLVERS",
    "SSM_COMMAND",
    "AddressPolicy",
    "Node",
    "NodeAddressCache",
    "NodeAddressSource",
    "parse_command_output",
]

log = logging.getLogger(__name__)

#: The one command ``ssm-command`` ever runs: lists the node's IPv4 addresses with their
#: interfaces (``ip``), or only the addresses where ``ip`` is missing.
SSM_COMMAND = "ip -4 -o addr show scope global 2>/dev/null || hostname -I"


@dataclass(frozen=True)
class Node:
    """A container instance, as DescribeContainerInstances describes it."""

    arn: str
    instance_id: str
    attributes: dict[str, str]

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> Node:
        return cls(
            arn=str(description.get("containerInstanceArn", "")),
            instance_id=str(description.get("ec2InstanceId", "")),
            attributes={
                str(a["name"]): str(a.get("value", ""))
                for a in description.get("attributes") or []
                if "name" in a
            },
        )


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses and interfaces may be a node's address."""

    allowed_cidrs: tuple[str, ...] = ()
    excluded_cidrs: tuple[str, ...] = ("169.254.0.0/16", "172.17.0.0/16", "127.0.0.1/32")
    interface: str = ""
    excluded_interfaces: tuple[str, ...] = (
        "lo", "docker*", "br-*", "veth*", "cni*", "flannel*", "virbr*",
    )  # fmt: skip

    def accepts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        if ip.version != 4 or ip.is_unspecified or ip.is_link_local or ip.is_multicast:
            return False
        if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in self.excluded_cidrs):
            return False
        if self.allowed_cidrs:
            return any(ip in ipaddress.ip_network(c, strict=False) for c in self.allowed_cidrs)
        return True

    def accepts_interface(self, name: str) -> bool:
        if self.interface:
            return name == self.interface
        return not any(fnmatch.fnmatch(name, pattern) for pattern in self.excluded_interfaces)

    def pick(self, rows: Sequence[tuple[str, str]]) -> str | None:
        """The first acceptable address of (interface, address) rows ('' = interface unknown)."""
        for interface, address in rows:
            if (not interface or self.accepts_interface(interface)) and self.accepts(address):
                return address.strip()
        return None


_IP_ADDR_LINE = re.compile(r"^\s*\d+:\s+(?P<name>[^\s:]+)\s+inet\s+(?P<ip>\d+\.\d+\.\d+\.\d+)/")


def parse_command_output(output: str) -> list[tuple[str, str]]:
    """(interface, address) rows from ``SSM_COMMAND``'s output, whichever branch ran.

    Defensive: anything that is not an address line is skipped; never raises."""
    rows = []
    for line in (output or "")[:24000].splitlines():
        found = _IP_ADDR_LINE.match(line)
        if found:
            rows.append((found["name"], found["ip"]))
            continue
        for word in line.split():  # hostname -I: addresses separated by spaces
            try:
                if ipaddress.ip_address(word).version == 4:
                    rows.append(("", word))
            except ValueError:
                continue
    return rows


@dataclass
class NodeAddressCache:
    """Addresses by container instance ARN, each for ``ttl`` seconds."""

    ttl: float = 300.0
    entries: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    def get(self, arn: str) -> tuple[str, str] | None:
        entry = self.entries.get(arn)
        if entry is None or entry[2] < time.monotonic():
            self.entries.pop(arn, None)
            return None
        return entry[0], entry[1]

    def put(self, arn: str, address: str, resolver: str) -> None:
        self.entries[arn] = (address, resolver, time.monotonic() + self.ttl)

    def drop(self, arn: str) -> None:
        self.entries.pop(arn, None)


# ------------------------------------------------------------------------------ resolvers

ClientFactory = Callable[[str], Awaitable[Any]]


class NodeAddressSource(Protocol):
    name: str

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        """The node's address, or None when this resolver cannot tell."""


class ContainerAttributeSource:
    name = "container-attribute"

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        value = node.attributes.get(self.attribute, "")
        return value.strip() if value and policy.accepts(value) else None


class EC2InstanceSource:
    name = "ec2-instance"

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        if not node.instance_id.startswith("i-"):
            return None
        ec2 = await aws_call("CreateClient", clients("ec2"))
        answer = await aws_call(
            "DescribeInstances", ec2.describe_instances(InstanceIds=[node.instance_id])
        )
        for reservation in answer.get("Reservations") or []:
            for instance in reservation.get("Instances") or []:
                address = str(instance.get("PrivateIpAddress") or "")
                if policy.accepts(address):
                    return address
        return None


class SSMInstanceInformationSource:
    name = "ssm-instance-information"

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        if not node.instance_id.startswith("mi-"):
            return None
        ssm = await aws_call("CreateClient", clients("ssm"))
        answer = await aws_call(
            "DescribeInstanceInformation",
            ssm.describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [node.instance_id]}]
            ),
        )
        for info in answer.get("InstanceInformationList") or []:
            address = str(info.get("IPAddress") or "")
            if info.get("InstanceId") == node.instance_id and policy.accepts(address):
                return address
        return None


class SSMInventorySource:
    name = "ssm-inventory"

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        if not node.instance_id.startswith("mi-"):
            return None
        ssm = await aws_call("CreateClient", clients("ssm"))
        answer = await aws_call(
            "ListInventoryEntries",
            ssm.list_inventory_entries(InstanceId=node.instance_id, TypeName="AWS:Network"),
        )
        # One row per interface; IPV4 may list several addresses. An unnamed interface is
        # "?" so that pick() still applies the interface rules to it.
        return policy.pick(
            [
                (str(entry.get("Name") or "?"), address)
                for entry in answer.get("Entries") or []
                for address in str(entry.get("IPV4") or "").split(",")
            ]
        )


class SSMCommandSource:
    name = "ssm-command"

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    async def address(
        self, node: Node, clients: ClientFactory, policy: AddressPolicy
    ) -> str | None:
        if not node.instance_id.startswith("mi-"):
            return None
        ssm = await aws_call("CreateClient", clients("ssm"))
        sent = await aws_call(
            "SendCommand",
            ssm.send_command(
                InstanceIds=[node.instance_id],  # exactly the one node this task runs on
                DocumentName="AWS-RunShellScript",
                Parameters={"commands": [SSM_COMMAND]},
                Comment="awsspawner: find this node's address",
                TimeoutSeconds=30,
            ),
        )
        command_id = sent["Command"]["CommandId"]
        deadline = time.monotonic() + self.timeout
        delay = 0.2
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                result = await aws_call(
                    "GetCommandInvocation",
                    ssm.get_command_invocation(CommandId=command_id, InstanceId=node.instance_id),
                )
            except AWSError as exc:
                if exc.code == "InvocationDoesNotExist":
                    continue  # SSM has not registered the invocation yet
                raise
            status = result.get("Status")
            if status in ("Pending", "InProgress", "Delayed"):
                continue
            if status != "Success":
                log.warning("SSM command on %s ended %s", node.instance_id, status)
                return None
            return policy.pick(parse_command_output(str(result.get("StandardOutputContent", ""))))
        log.warning("SSM command on %s gave no answer in %ss", node.instance_id, self.timeout)
        return None


#: Every node-address source by the name ``c.AWSSpawner.address_resolvers`` lists it under;
#: each is built from (the container attribute's name, the SSM command's timeout).
SOURCES: dict[str, Callable[[str, float], NodeAddressSource]] = {
    "container-attribute": lambda attribute, _timeout: ContainerAttributeSource(attribute),
    "ec2-instance": lambda _attribute, _timeout: EC2InstanceSource(),
    "ssm-instance-information": lambda _attribute, _timeout: SSMInstanceInformationSource(),
    "ssm-inventory": lambda _attribute, _timeout: SSMInventorySource(),
    "ssm-command": lambda _attribute, timeout: SSMCommandSource(timeout),
}
ADDRESS_RESOLVERS = tuple(SOURCES)


def build_chain(
    names: Sequence[str], *, attribute: str, ssm_timeout: float
) -> list[NodeAddressSource]:
    return [SOURCES[name](attribute, ssm_timeout) for name in names]


async def node_address_candidates(
    node: Node,
    chain: Sequence[NodeAddressSource],
    clients: ClientFactory,
    policy: AddressPolicy,
    seen: dict[str, str],
) -> Any:
    """Yield (address, resolver name) from each resolver that answers, in order; record in
    ``seen`` what each one said (for the error message when none of them works)."""
    for resolver in chain:
        started = time.monotonic()
        try:
            address = await resolver.address(node, clients, policy)
        except AWSError as exc:
            seen[resolver.name] = f"failed: {exc.code or exc.message}"
            continue
        took = (time.monotonic() - started) * 1000
        if address is None:
            seen[resolver.name] = f"no usable address ({took:.0f} ms)"
            continue
        seen[resolver.name] = f"{address} ({took:.0f} ms)"
        yield address, resolver.name
