"""Which of a hub's tasks are orphans: the orphan reaper's rules, pure (no AWS, no hub).

:func:`decide` takes the hub's tasks (DescribeTasks with tags) and what the hub's REST API
says (:class:`HubServers`) and returns one :class:`Decision` per task;
:mod:`awsspawner.tools.reaper` does the I/O around it and confirms each "stop" with the hub
before acting on it. The rules, and why, are in ``docs/reaper.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..aws.tasks import parse_timestamp
from ..launch.tags import (
    TAG_HUB,
    TAG_SERVER,
    TAG_USER,
    escape_tag_value,
    task_tags,
    unescape_tag_value,
)

__all__ = [
    "CLOCK_SKEW",
    "ActiveServer",
    "Decision",
    "HubServers",
    "decide",
    "server_state",
]

#: Server "pending" states in which the hub itself is still working on the server.
HUB_PENDING = ("spawn", "check", "stop")
#: Seconds the hub's clock and AWS's may differ when a task's createdAt is compared with the
#: time JupyterHub says a server's spawn began.
CLOCK_SKEW = 60.0


def server_state(server: Mapping[str, Any]) -> str:
    """The server's state as the reaper sees it: "ready", a pending state in which the hub
    works on the server ("spawn", "check", "stop"), or "" (not running)."""
    if server.get("ready"):
        return "ready"
    pending = str(server.get("pending") or "")
    return pending if pending in HUB_PENDING else ""


@dataclass(frozen=True)
class ActiveServer:
    """A server the hub says is ready or pending."""

    user: str  # the user's name as the hub has it now
    name: str
    state: str
    started: float | None  # when its current spawn began (JupyterHub's ``started``)

    def could_own(self, created: float | None) -> bool:
        """Could a task created at ``created`` be this server's? JupyterHub records
        ``started`` before it calls the spawner's start(), so a task of the current spawn is
        never older than that (allowing for the hub's and AWS's clocks to differ)."""
        return created is None or self.started is None or created >= self.started - CLOCK_SKEW


@dataclass
class HubServers:
    """What the hub says: every user, and their servers that are ready or pending."""

    #: tag value of each user's name -> the name itself
    users: dict[str, str] = field(default_factory=dict)
    #: (tag value of the user name, tag value of the server name) -> the server
    active: dict[tuple[str, str], ActiveServer] = field(default_factory=dict)

    def add(self, user: str, servers: Mapping[str, Mapping[str, Any]]) -> None:
        self.users[escape_tag_value(user)] = user
        for name, server in servers.items():
            state = server_state(server)
            if state:
                started = parse_timestamp(server.get("started"))
                key = (escape_tag_value(user), escape_tag_value(name))
                self.active[key] = ActiveServer(user, name, state, started)


@dataclass(frozen=True)
class Decision:
    arn: str
    action: str  # "keep", "wait" (not certain yet), "stop", "skip" (never ours to judge)
    why: str
    user: str = ""  # the tags' user and server names (tag values), for the confirmation
    server: str = ""
    created: float | None = None


def _shown(tag_value: str) -> str:
    """A name from a tag, for log lines: unescaped when it can be, else the tag as it is."""
    try:
        return unescape_tag_value(tag_value)
    except ValueError:  # cut to a digest, or not our escaping at all
        return tag_value


@dataclass
class _Candidate:
    """A task of this hub that no server claims by its tags."""

    task: Mapping[str, Any]
    user: str
    server: str
    created: float | None

    @property
    def owner(self) -> str:
        return f"user {_shown(self.user)!r}, server {_shown(self.server)!r}"


def _not_ours(tags: Mapping[str, str], hub_tag: str) -> str:
    """Why the reaper must not judge this task at all, or ""."""
    if TAG_USER not in tags or TAG_SERVER not in tags:
        return "no awsspawner:user/awsspawner:server tags; not ours to judge"
    if tags.get(TAG_HUB) != hub_tag:
        return f"awsspawner:hub is {_shown(tags.get(TAG_HUB, '')) or 'none'!r}, not this hub"
    return ""


def decide(
    tasks: Iterable[Mapping[str, Any]],
    hub: HubServers,
    *,
    hub_tag: str,
    grace: float,
    now: float,
) -> list[Decision]:
    """What to do with each task; pure, so the rules are tested without AWS or a hub.

    ``hub_tag`` is this hub's ``awsspawner:hub`` tag value; "stop" still needs
    :func:`confirm_stop` against the hub before anything is stopped."""
    decided: dict[int, Decision] = {}
    claimed: set[tuple[str, str]] = set()
    candidates: dict[int, _Candidate] = {}
    tasks = list(tasks)
    for index, task in enumerate(tasks):
        arn, tags = str(task.get("taskArn", "")), task_tags(task)
        why = _not_ours(tags, hub_tag)
        if why:
            decided[index] = Decision(arn, "skip", why)
            continue
        key = (tags[TAG_USER], tags[TAG_SERVER])
        created = parse_timestamp(task.get("createdAt"))
        server = hub.active.get(key)
        if server is not None and server.could_own(created):
            claimed.add(key)
            owner = f"user {_shown(key[0])!r}, server {_shown(key[1])!r}"
            decided[index] = Decision(arn, "keep", f"{owner} is {server.state}")
        else:
            candidates[index] = _Candidate(task, *key, created)
    unclaimed = {key: s for key, s in hub.active.items() if key not in claimed}
    for index, candidate in candidates.items():
        decided[index] = _judge(candidate, hub, unclaimed, grace=grace, now=now)
    return [decided[index] for index in range(len(tasks))]


def _judge(
    candidate: _Candidate,
    hub: HubServers,
    unclaimed: dict[tuple[str, str], ActiveServer],
    *,
    grace: float,
    now: float,
) -> Decision:
    arn = str(candidate.task.get("taskArn", ""))
    renamed = _renamed_owner(candidate, unclaimed, window=max(grace, CLOCK_SKEW))
    if renamed is not None:
        key, after = renamed
        server = unclaimed.pop(key)  # one task per server
        why = (
            f"{candidate.owner}: created {after:.0f} s "
            f"after user {server.user!r} started server {server.name!r}, which has no task "
            "of its own (a renamed user?)"
        )
        return Decision(arn, "keep", why)
    if (candidate.user, candidate.server) in hub.active:
        missing = "a task of an earlier spawn of this server"
    elif candidate.user in hub.users:
        missing = "server not running"
    else:
        missing = "no such user"
    age = now - candidate.created if candidate.created is not None else 0.0
    if age < grace or candidate.created is None:  # unknown age: never stop on a guess
        why = f"{candidate.owner}: {missing}; {age:.0f} s old, within the {grace:g} s grace period"
        return Decision(arn, "wait", why)
    why = f"{candidate.owner}: {missing}; {age:.0f} s old"
    return Decision(
        arn, "stop", why, user=candidate.user, server=candidate.server, created=candidate.created
    )


def _renamed_owner(
    candidate: _Candidate, unclaimed: Mapping[tuple[str, str], ActiveServer], *, window: float
) -> tuple[tuple[str, str], float] | None:
    """The server a user renamed while it ran would be: one of the same name with no task of
    its own whose spawn began shortly before this task was created (the task's tags keep the
    old name, and the REST API shows no user ids to match on). The closest one's key and how
    many seconds after its spawn began the task was created, or None."""
    if candidate.created is None:
        return None
    created = candidate.created
    fitting = [
        (key, created - server.started)
        for key, server in unclaimed.items()
        if key[1] == candidate.server
        and server.started is not None
        and server.started - CLOCK_SKEW <= created <= server.started + window
    ]
    return min(fitting, key=lambda pair: abs(pair[1])) if fitting else None
