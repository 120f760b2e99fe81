"""The reaper's rules, without AWS or a hub (its end-to-end test is tests/e2e/test_reaper.py)."""

from __future__ import annotations

import pytest

from awsspawner.naming import escape_tag_value
from awsspawner.reaper import Decision, HubServers, decide, parse
from awsspawner.requests import TAG_HUB, TAG_SERVER, TAG_USER

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
        (task("8", None), "skip", "no awsspawner:user tag"),
        (task("9", "cat"), "stop", "server not running"),
        (
            {
                "taskArn": "10",
                "tags": [{"key": TAG_USER, "value": "ghost"}, {"key": TAG_HUB, "value": HUB}],
            },
            "wait",
            "0 s old",
        ),
        # Tasks of other hubs are never judged, whatever their user tag says.
        (task("11", "ghost", hub_id="team.a"), "skip", "awsspawner:hub is 'team.a'"),
        ({"taskArn": "12", "tags": [{"key": TAG_USER, "value": "ghost"}]}, "skip", "'none'"),
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


def test_a_renamed_users_task_waits_while_a_server_has_no_task() -> None:
    # "ann" was renamed "anna" while her server ran: the task's tag still says "ann", and
    # the hub shows anna's server with no task of ours. The REST API shows no user ids.
    servers = HubServers()
    servers.add("anna", {"": {"ready": True}})
    [decision] = decide([task("1", "ann")], servers, hub_tag=HUB, grace=900, now=NOW)
    assert decision.action == "wait"
    assert "a renamed user?" in decision.why
    # Once that server has a task of its own (or stopped), the ownerless one is stopped.
    decisions = decide(
        [task("1", "ann"), task("2", "anna")], servers, hub_tag=HUB, grace=900, now=NOW
    )
    assert [d.action for d in decisions] == ["stop", "keep"]
