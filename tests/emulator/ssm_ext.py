"""SSM for ECS Anywhere nodes: managed instances (``mi-``), their inventory, Run Command.

moto has no DescribeInstanceInformation and no inventory, and its SendCommand succeeds at
once with empty output. Here:

* managed instances are declared through the control endpoint
  (``POST /_emulator/managed-instances``; the local agent does it for its own node) with the
  address the SSM agent would report, its network interfaces and the output a shell command
  would print there;
* DescribeInstanceInformation answers for them (``InstanceInformationFilterList`` or
  ``Filters`` with key ``InstanceIds``; pages of ``MaxResults``, default 10, at most 50);
* ListInventoryEntries answers ``AWS:Network`` with the declared interfaces;
* GetCommandInvocation answers ``InvocationDoesNotExist`` for a moment after SendCommand
  (as SSM does), then Success with the declared output.
"""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ssm import responses as ssm_responses

from .ecs_ext import EmulatorError

__all__ = ["SSM_STATE", "install"]


class SSMState:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.commands: dict[str, dict[str, Any]] = {}
        self.invocation_delay = 0.3

    def declare(self, spec: dict[str, Any]) -> dict[str, Any]:
        instance_id = str(spec["instanceId"])
        if not instance_id.startswith("mi-"):
            raise ValueError("managed instance ids start with mi-")
        record = self.instances.setdefault(instance_id, {})
        record.update(
            {
                "InstanceId": instance_id,
                "IPAddress": spec.get("ipAddress", record.get("IPAddress", "")),
                "ComputerName": spec.get("computerName", record.get("ComputerName", instance_id)),
                "PingStatus": spec.get("pingStatus", record.get("PingStatus", "Online")),
                "interfaces": spec.get("interfaces", record.get("interfaces", [])),
                "commandOutput": spec.get("commandOutput", record.get("commandOutput", "")),
            }
        )
        if "invocationDelay" in spec:
            self.invocation_delay = float(spec["invocationDelay"])
        return record


SSM_STATE = SSMState()


def _wanted_ids(response: Any) -> set[str] | None:
    for key, name_key, values_key in (
        ("InstanceInformationFilterList", "key", "valueSet"),
        ("Filters", "Key", "Values"),
    ):
        for item in response._get_param(key) or []:
            if item.get(name_key) == "InstanceIds":
                return set(item.get(values_key) or [])
            raise EmulatorError("InvalidInstanceInformationFilterValue", f"unknown filter {item}")
    return None


def describe_instance_information(self: Any) -> ActionResult:
    wanted = _wanted_ids(self)
    limit = int(self._get_param("MaxResults") or 10)
    if not 5 <= limit <= 50:
        raise EmulatorError("ValidationException", "MaxResults must be between 5 and 50")
    start = int(self._get_param("NextToken") or 0)
    rows = [
        {
            "InstanceId": r["InstanceId"],
            "PingStatus": r["PingStatus"],
            "LastPingDateTime": utcnow(),
            "AgentVersion": "3.3.0.0",
            "IsLatestVersion": True,
            "PlatformType": "Linux",
            "PlatformName": "Debian GNU/Linux",
            "ResourceType": "ManagedInstance",
            "IPAddress": r["IPAddress"],
            "ComputerName": r["ComputerName"],
        }
        for r in sorted(SSM_STATE.instances.values(), key=lambda r: r["InstanceId"])
        if wanted is None or r["InstanceId"] in wanted
    ]
    page = rows[start : start + limit]
    result: dict[str, Any] = {"InstanceInformationList": page}
    if start + limit < len(rows):
        result["NextToken"] = str(start + limit)
    return ActionResult(result)


def list_inventory_entries(self: Any) -> ActionResult:
    instance_id = self._get_param("InstanceId")
    type_name = self._get_param("TypeName")
    record = SSM_STATE.instances.get(instance_id)
    if record is None:
        raise EmulatorError("InvalidInstanceId", f"{instance_id} is not a managed instance")
    entries = []
    if type_name == "AWS:Network":
        entries = [{k: str(v) for k, v in interface.items()} for interface in record["interfaces"]]
    return ActionResult(
        {
            "TypeName": type_name,
            "InstanceId": instance_id,
            "SchemaVersion": "1.0",
            "CaptureTime": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Entries": entries,
        }
    )


_original_send_command = ssm_responses.SimpleSystemManagerResponse.send_command


def send_command(self: Any) -> ActionResult:
    result = _original_send_command(self)
    command = result.result["Command"]
    SSM_STATE.commands[command["CommandId"]] = {
        "instances": list(self._get_param("InstanceIds") or []),
        "sent": time.monotonic(),
        "parameters": self._get_param("Parameters") or {},
    }
    return result


def get_command_invocation(self: Any) -> ActionResult:
    command_id = self._get_param("CommandId")
    instance_id = self._get_param("InstanceId")
    command = SSM_STATE.commands.get(command_id)
    if (
        command is None
        or instance_id not in command["instances"]
        or time.monotonic() - command["sent"] < SSM_STATE.invocation_delay
    ):
        raise EmulatorError("InvocationDoesNotExist", "")
    record = SSM_STATE.instances.get(instance_id, {})
    return ActionResult(
        {
            "CommandId": command_id,
            "InstanceId": instance_id,
            "DocumentName": "AWS-RunShellScript",
            "Status": "Success",
            "StatusDetails": "Success",
            "ResponseCode": 0,
            "StandardOutputContent": record.get("commandOutput", ""),
            "StandardErrorContent": "",
        }
    )


def install() -> None:
    response = ssm_responses.SimpleSystemManagerResponse
    response.describe_instance_information = describe_instance_information
    response.list_inventory_entries = list_inventory_entries
    response.send_command = send_command
    response.get_command_invocation = get_command_invocation
