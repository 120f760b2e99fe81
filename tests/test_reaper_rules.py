"""The reaper's rules, without AWS or a hub (its end-to-end test is tests/e2e/test_reaper.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from awsspawner.aws.tasks import parse_timestamp
from awsspawner.launch.tags import TAG_HUB, TAG_SERVER, TAG_USER, escape_tag_value
from awsspawner.tools.reaper import Decision, HubServers, decide, parse

NOW = 1_000_000.0
HUB = "jupyterhub"


def task(
    arn: str, user: str | None, server: str = "", age: float = 3600, hub_id: str = "jupyterhub"
) -> dict:
    tags = (
        []
        if user is None
        else [
            {"key": TAG_USER, "value": escape_tag_value(user)},
            {"key": TAG_SERVER, "value": escape_tag_value(server)},
            {"key": TAG_HUB, "value": escape_tag_value(hub_id)},
        ]
    )
    return {"taskArn": arn, "tags": tags, "createdAt": NOW - age}


def hub() -> HubServers:
    servers = HubServers()
    servers.add("ann", {"": {"ready": True}, "gpu": {"ready": False, "pending": "spawn"}})
    servers.add("bob", {})  # a user without running servers
    servers.add("a" * 300, {"": {"ready": True}})  # a name cut to a digest in its tag
    servers.add("cat", {"": {"ready": False, "pending": None}})  # neither ready nor pending
    return servers


@pytest.mark.parametrize(
    ("the_task", "action", "why"),
    [
        (task("1", "ann"), "keep", "is ready"),
        (task("2", "ann", "gpu"), "keep", "is spawn"),
        (task("3", "a" * 300), "keep", "is ready"),
        (task("4", "ann", "other"), "stop", "server not running"),
        (task("5", "bob"), "stop", "server not running"),
        (task("6", "ghost"), "stop", "no such user"),
        (task("7", "ghost", age=10), "wait", "within the 900 s grace period"),
        (task("8", None), "skip", "not ours to judge"),
        (task("9", "cat"), "stop", "server not running"),
        (
            {
                "taskArn": "10",
                "tags": [
                    {"key": TAG_USER, "value": "ghost"},
                    {"key": TAG_SERVER, "value": ""},
                    {"key": TAG_HUB, "value": HUB},
                ],
            },
            "wait",
            "0 s old",  # no createdAt: never stopped on a guess
        ),
        # Tasks of other hubs are never judged, whatever their user tag says.
        (task("11", "ghost", hub_id="team.a"), "skip", "awsspawner:hub is 'team.a'"),
        (
            {
                "taskArn": "12",
                "tags": [{"key": TAG_USER, "value": "ghost"}, {"key": TAG_SERVER, "value": ""}],
            },
            "skip",
            "'none'",
        ),
        # Without a server tag (a hook may have dropped it) the owner is unknown: not judged.
        (
            {"taskArn": "13", "tags": [{"key": TAG_USER, "value": "ghost"}]},
            "skip",
            "not ours to judge",
        ),
    ],
)
def test_decisions(the_task: dict, action: str, why: str) -> None:
    # Every active server has its task: no server without one (see the rename test below).
    owners = [task("ann-1", "ann"), task("ann-2", "ann", "gpu"), task("a-1", "a" * 300)]
    decisions = decide([the_task, *owners], hub(), hub_tag=HUB, grace=900, now=NOW)
    decision = decisions[0]
    assert isinstance(decision, Decision)
    assert decision.action == action
    assert why in decision.why


def test_the_command_line_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")
    with pytest.raises(SystemExit):
        parse(["--cluster", "c"])
    assert "JUPYTERHUB_API_TOKEN is required" in capsys.readouterr().err
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    with pytest.raises(SystemExit):
        parse(["--cluster", "c", "--grace", "-1"])
    assert parse(["--cluster", "c"]).grace == 900


def iso(seconds: float) -> str:
    """A time as JupyterHub's REST API writes it."""
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def running_since(started: float) -> dict:
    return {"": {"ready": True, "started": iso(started)}}


def test_a_renamed_users_task_is_kept() -> None:
    # "ann" was renamed "anna" while her server ran: the task's tag still says "ann", and the
    # hub shows anna's server, started 5 s before the task was created, with no task of ours.
    # The REST API shows no user ids: the names and the times are what can be matched.
    servers = HubServers()
    servers.add("anna", running_since(NOW - 3605))
    [decision] = decide([task("1", "ann")], servers, hub_tag=HUB, grace=900, now=NOW)
    assert decision.action == "keep"
    assert "user 'anna' started server ''" in decision.why
    assert "a renamed user?" in decision.why
    # Once that server has a task of its own, the other one is an orphan.
    decisions = decide(
        [task("1", "ann"), task("2", "anna")], servers, hub_tag=HUB, grace=900, now=NOW
    )
    assert [d.action for d in decisions] == ["stop", "keep"]


def test_a_renamed_users_task_is_kept_when_the_old_name_comes_back() -> None:
    # Then a new "ann" logs in: the tag now names a user who exists without a server.
    servers = HubServers()
    servers.add("anna", running_since(NOW - 3605))
    servers.add("ann", {})
    [decision] = decide([task("1", "ann")], servers, hub_tag=HUB, grace=900, now=NOW)
    assert decision.action == "keep"


def test_a_rename_onto_a_name_with_a_stale_task() -> None:
    # An old orphan of a deleted "bob" is still running; then "ann" is renamed "bob" while her
    # server runs. The stale task predates bob's spawn, so it cannot be that server's: the
    # live task is kept (matched by time), the stale one stopped.
    servers = HubServers()
    servers.add("bob", running_since(NOW - 3605))
    stale = task("stale", "bob", age=100_000)
    live = task("live", "ann", age=3600)
    decisions = decide([stale, live], servers, hub_tag=HUB, grace=900, now=NOW)
    assert [d.action for d in decisions] == ["stop", "keep"]
    assert "a task of an earlier spawn of this server" in decisions[0].why


def test_a_deleted_users_orphan_is_not_held_by_an_unrelated_server() -> None:
    # A server with no task of ours (a spawn before RunTask) whose spawn began long after the
    # orphan was created cannot be a renamed owner: the orphan is stopped.
    servers = HubServers()
    servers.add("carol", {"": {"ready": False, "pending": "spawn", "started": iso(NOW - 10)}})
    [decision] = decide([task("1", "ghost")], servers, hub_tag=HUB, grace=900, now=NOW)
    assert decision.action == "stop"
    assert "no such user" in decision.why


def test_times_are_read_as_jupyterhub_and_ecs_write_them() -> None:
    assert parse_timestamp("2026-12-03T08:00:00.123456Z") == pytest.approx(1796284800.123456)
    assert parse_timestamp(datetime(2026, 12, 3, 8, tzinfo=timezone.utc)) == 1796284800.0
    assert parse_timestamp(1796284800) == 1796284800.0
    assert parse_timestamp(None) is None
    assert parse_timestamp("yesterday") is None
