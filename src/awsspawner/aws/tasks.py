"""Pure: reading ECS task descriptions (DescribeTasks answers) the way the spawner needs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..launch.tags import task_tags

__all__ = [
    "SPOT_STOP_CODES",
    "exit_code",
    "parse_timestamp",
    "spot_interruption",
    "stop_explanation",
    "tag_value",
    "trimmed",
]

#: ECS's stopCode when AWS takes Spot capacity back: Fargate Spot (SpotInterruption), and an
#: EC2 Spot instance draining (TerminationNotice). AWS never replaces it with on-demand.
SPOT_STOP_CODES = frozenset({"SpotInterruption", "TerminationNotice"})

#: What the spawner reads from a task description; the watcher keeps only these. A full
#: description (overrides with the whole environment, every container field) is hundreds of
#: small objects: a thousand of them kept for hours made each full garbage collection of
#: the hub walk them all.
TASK_FIELDS = frozenset(
    {
        "taskArn", "lastStatus", "desiredStatus", "stopCode", "stoppedReason", "createdAt",
        "startedAt", "stoppingAt", "stoppedAt", "pullStartedAt", "pullStoppedAt",
        "containerInstanceArn", "attachments", "tags", "launchType", "capacityProviderName",
        "startedBy",
    }
)  # fmt: skip
CONTAINER_FIELDS = frozenset({"name", "lastStatus", "exitCode", "reason", "networkBindings"})


def exit_code(task: Mapping[str, Any], container_name: str) -> int:
    """The notebook container's exit code, or 1 when ECS gives none (it never ran)."""
    for container in task.get("containers") or []:
        if container.get("name") == container_name and isinstance(container.get("exitCode"), int):
            return int(container["exitCode"])
    return 1


#: The longest stop explanation shown on a spawn page: ECS's reasons can quote a whole
#: registry answer, or the (user-chosen) image name.
MAX_EXPLANATION = 400


def stop_explanation(task: Mapping[str, Any], limit: int = MAX_EXPLANATION) -> str:
    """ECS's own words on why a task stopped: stopCode, stoppedReason, container reasons;
    cut to ``limit`` characters."""
    parts = []
    if task.get("stopCode"):
        parts.append(str(task["stopCode"]))
    if task.get("stoppedReason"):
        parts.append(str(task["stoppedReason"]))
    for container in task.get("containers") or []:
        name = container.get("name")
        if container.get("reason") and container["reason"] not in parts:
            parts.append(f"container {name}: {container['reason']}")
        elif container.get("exitCode") not in (None, 0):
            parts.append(f"container {name} exited with code {container['exitCode']}")
    text = " ".join("; ".join(parts).split()) or "ECS gave no reason"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tag_value(task: Mapping[str, Any], key: str) -> str | None:
    """The value of tag ``key`` in a task described with include=['TAGS']."""
    return task_tags(task).get(key)


def trimmed(task: Mapping[str, Any]) -> dict[str, Any]:
    """``task`` with only :data:`TASK_FIELDS` (and :data:`CONTAINER_FIELDS` per container)."""
    kept = {key: value for key, value in task.items() if key in TASK_FIELDS}
    kept["containers"] = [
        {key: value for key, value in container.items() if key in CONTAINER_FIELDS}
        for container in task.get("containers") or []
    ]
    return kept


def parse_timestamp(value: Any) -> float | None:
    """Seconds since the epoch from JupyterHub's ISO 8601 times (``...Z``) or ECS's datetimes
    and numbers; None when absent or unreadable (the rules then never act on time)."""
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def spot_interruption(task: Mapping[str, Any]) -> float | None:
    """When AWS started reclaiming ``task``'s Spot capacity (seconds since the epoch: the
    task's stoppingAt, else stoppedAt, else now), or None when that is not why it stops."""
    if task.get("stopCode") not in SPOT_STOP_CODES:
        return None
    for key in ("stoppingAt", "stoppedAt"):
        when = parse_timestamp(task.get(key))
        if when is not None:
            return when
    return datetime.now(timezone.utc).timestamp()
