"""The spawn lifecycle against the emulator: real processes in "tasks", real HTTP answers.

The spawner's command is a plain HTTP server (``python -m http.server``): these tests are about
what the spawner does with ECS, not about the notebook server (the end-to-end tests run a real
``jupyterhub-singleuser`` behind a real hub).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from awsspawner import AWSSpawner

from .conftest import CLUSTER, CONTAINER, FAMILY, CallCounter, make_spawner
from .emulator.launcher import Emulator
from .helpers import http_status, pid_alive

# "0.0.0.0" inside a task: the agent rewrites it to the address the task's network gives it.
SERVER = [sys.executable, "-m", "http.server", "8888", "--bind", "0.0.0.0"]  # noqa: S104
EC2_FAMILY = "jupyter-ec2"


@dataclass
class Cluster:
    emulator: Emulator
    subnet: str
    ecs: Any


def task_definitions(ecs: Any) -> None:
    container = {
        "name": CONTAINER,
        "image": "quay.io/jupyter/base-notebook:2026-01-01",
        "memory": 512,
        "essential": True,
        "command": ["start-notebook.sh"],
        "portMappings": [{"containerPort": 8888, "protocol": "tcp"}],
    }
    ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[container],
    )
    ecs.register_task_definition(
        family=EC2_FAMILY,
        networkMode="bridge",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[container],
    )


@pytest.fixture
def cluster(emulator: Emulator) -> Cluster:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    task_definitions(ecs)
    return Cluster(emulator, emulator.loopback_subnet(), ecs)


def spawner_for(cluster: Cluster, mode: str, **config: Any) -> AWSSpawner:
    settings: dict[str, Any] = {"cmd": SERVER, "task_subnets": [cluster.subnet]}
    if mode in ("EC2", "asg-strategy"):
        settings["task_definition_family"] = EC2_FAMILY
    settings["launch_type"] = {
        "FARGATE": "FARGATE",
        "FARGATE_SPOT": "FARGATE_SPOT",
        "fargate-strategy": [
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
        "EC2": "EC2",
        "asg-strategy": [{"capacityProvider": "notebook-asg", "weight": 1}],
    }[mode]
    settings.update(config)
    return make_spawner(**settings)


def add_agent_for(cluster: Cluster, mode: str, *options: str) -> None:
    if mode in ("EC2", "asg-strategy"):
        cluster.emulator.add_agent(CLUSTER, address="127.0.0.40", options=list(options))
    else:
        cluster.emulator.add_agent(CLUSTER, fargate=True, options=list(options))


async def answers(url: str, timeout: float = 15) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await asyncio.to_thread(http_status, url)
        if status is not None:
            return status
        await asyncio.sleep(0.05)
    return None


def task_of(cluster: Cluster, arn: str) -> dict[str, Any]:
    return cluster.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]  # type: ignore[no-any-return]


def running_tasks(cluster: Cluster) -> list[str]:
    return cluster.ecs.list_tasks(cluster=CLUSTER, desiredStatus="RUNNING")["taskArns"]  # type: ignore[no-any-return]


async def wait_stopped(cluster: Cluster, arn: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (task := task_of(cluster, arn))["lastStatus"] != "STOPPED":
        assert time.monotonic() < deadline, f"task still {task['lastStatus']}"
        await asyncio.sleep(0.05)
    return task


async def collect(spawner: AWSSpawner) -> list[dict[str, Any]]:
    return [event async for event in spawner.progress()]


# ------------------------------------------------------------------------- happy paths


@pytest.mark.parametrize(
    "mode", ["FARGATE", "FARGATE_SPOT", "fargate-strategy", "EC2", "asg-strategy"]
)
async def test_spawn_resolve_poll_stop(cluster: Cluster, mode: str) -> None:
    add_agent_for(cluster, mode, "--pull-delay", "0.3")
    spawner = spawner_for(cluster, mode)
    starting = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0)  # start() has made its progress log
    first_listener = asyncio.ensure_future(collect(spawner))
    url = await starting
    assert await answers(url + "/") == 200
    if mode == "EC2" or mode == "asg-strategy":
        assert url.startswith("http://127.0.0.40:")
        assert not url.endswith(":8888")  # the host port ECS mapped
    else:
        assert url.startswith("http://127.100.")
        assert url.endswith(":8888")
    assert await spawner.poll() is None

    events = await first_listener
    again = await collect(spawner)  # a second tab, after the fact, sees the same
    assert again == events
    percents = [e["progress"] for e in events]
    assert percents == sorted(percents)
    messages = [e["message"] for e in events]
    expected = [
        "ECS accepted the request",
        "ECS is finding capacity",
        "ECS placed your server",
        "Downloading the container image",
        "Container image downloaded",
        "Your server's container is running",
        "Finding your server's address",
    ]
    positions = [next(i for i, m in enumerate(messages) if m.startswith(e)) for e in expected]
    assert positions == sorted(positions), messages
    assert not any("Server requested" in m for m in messages)  # the hub's own event

    task = task_of(cluster, spawner.task_arn)
    pid = int(task["containers"][0]["runtimeId"])
    await spawner.stop()
    stopped = task_of(cluster, spawner.task_arn)
    assert stopped["lastStatus"] == "STOPPED"
    assert stopped["stopCode"] == "UserInitiated"
    assert await spawner.poll() == 143  # the server was stopped with SIGTERM
    assert not pid_alive(pid)
    await spawner.stop()  # idempotent


async def test_state_lets_a_fresh_spawner_find_and_stop_the_task(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE")
    spawner = spawner_for(cluster, "FARGATE")
    url = await spawner.start()
    state = spawner.get_state()
    assert state["task_definition"].endswith(f"{FAMILY}:1")
    assert state["task_container"] == CONTAINER
    fresh = spawner_for(cluster, "FARGATE")
    fresh.load_state(state)
    assert await fresh.get_url() == url
    assert await fresh.poll() is None
    await fresh.stop()
    assert await fresh.poll() == 143
    fresh.clear_state()
    assert fresh.get_state() == {}
    assert await fresh.poll() == 0


# ------------------------------------------------------------------------------ failures


async def assert_fails(spawner: AWSSpawner, *words: str) -> SpawnException:
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    for word in words:
        assert word in caught.value.message
    return caught.value


async def test_image_pull_failure_fails_fast_with_ecs_reason(cluster: Cluster) -> None:
    add_agent_for(
        cluster, "FARGATE", "--fail-image", "broken=CannotPullContainerError: manifest unknown"
    )
    spawner = spawner_for(cluster, "FARGATE", image="example.org/broken:1")
    started = time.monotonic()
    error = await assert_fails(spawner, "TaskFailedToStart", "CannotPullContainerError")
    assert time.monotonic() - started < 10
    assert error.reason == "task-stopped"
    assert running_tasks(cluster) == []


async def test_no_capacity_fails_with_ecs_reason(cluster: Cluster) -> None:
    add_agent_for(cluster, "EC2", "--memory", "256")
    spawner = spawner_for(cluster, "EC2")
    error = await assert_fails(spawner, "RESOURCE:MEMORY")
    assert error.status_code == 503
    assert cluster.ecs.list_tasks(cluster=CLUSTER)["taskArns"] == []


async def test_a_spawn_ecs_refused_leaves_nothing_to_search_for(cluster: Cluster) -> None:
    # ECS answered "no task" (capacity): the hub's stop() after the failed spawn must not
    # list and describe every task of the hub looking for one (a user can repeat this).
    add_agent_for(cluster, "EC2", "--memory", "256")
    spawner = spawner_for(cluster, "EC2")
    await assert_fails(spawner, "RESOURCE:MEMORY")
    assert "client_token" not in spawner.get_state()
    counter = await CallCounter().attach(spawner)
    await spawner.stop()
    assert sum(counter.calls.values()) == 0, counter.calls

    # Failing before RunTask (no such task definition) leaves nothing either.
    missing = spawner_for(cluster, "EC2", task_definition_family="no-such-family")
    await assert_fails(missing, "Could not prepare your server's task")
    counter = await CallCounter().attach(missing)
    await missing.stop()
    assert sum(counter.calls.values()) == 0, counter.calls


async def test_a_refused_retry_keeps_the_token_of_a_task_that_may_exist(
    cluster: Cluster,
) -> None:
    # The first RunTask reaches ECS and starts the task, but its answer is lost; the retry
    # (same clientToken) is refused. ECS's refusal of the retry does not undo the first send:
    # the token is kept, and the hub's stop() finds the task by it and stops it.
    add_agent_for(cluster, "FARGATE")
    cluster.emulator.faults(
        [
            {"operation": "ecs:RunTask", "kind": "lost", "rate": 1, "count": 1},
            {"operation": "ecs:RunTask", "kind": "denied", "rate": 1, "count": 1},
        ]
    )
    spawner = spawner_for(cluster, "FARGATE", task_call_retries=1)
    error = await assert_fails(spawner, "not allowed to make the RunTask call")
    assert error.reason == "aws"
    assert spawner.get_state()["client_token"]
    (arn,) = running_tasks(cluster)  # the lost answer's task
    await spawner.stop()
    assert spawner.task_arn == arn
    await wait_stopped(cluster, arn)
    assert running_tasks(cluster) == []


async def test_an_aws_error_page_stays_in_the_hub_log(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # Something in front of ECS answers with an HTML page: the user reads a plain sentence,
    # the administrator finds ECS's answer in the hub log.
    add_agent_for(cluster, "FARGATE")
    cluster.emulator.faults([{"operation": "ecs:RunTask", "kind": "html", "rate": 1}])
    spawner = spawner_for(cluster, "FARGATE", task_call_retries=0)
    error = await assert_fails(spawner, "ECS refused to start your server", "hub's log")
    assert "<" not in error.message, error.message
    assert "Bad Gateway" not in error.message, error.message
    assert "AWS did not complete the RunTask call" in error.message
    assert "RunTask for alice failed" in caplog.text
    # The request may have reached ECS before the answer was spoiled: the token is kept, so
    # stop() looks for a task it might have started.
    assert spawner.get_state()["client_token"]
    cluster.emulator.faults([])
    await spawner.stop()
    assert running_tasks(cluster) == []


async def test_container_exiting_during_start_fails_with_its_exit(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE")
    spawner = spawner_for(cluster, "FARGATE", cmd=[sys.executable, "-c", "raise SystemExit(7)"])
    await assert_fails(spawner, "EssentialContainerExited", "exited with code 7")
    assert running_tasks(cluster) == []


async def test_start_timeout_stops_the_task(cluster: Cluster) -> None:
    add_agent_for(cluster, "EC2", "--hold-pending", "60")
    spawner = spawner_for(cluster, "EC2")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(spawner.start(), timeout=1.5)  # as JupyterHub's start_timeout
    assert spawner.task_arn
    stopped = await wait_stopped(cluster, spawner.task_arn)
    assert stopped["stopCode"] == "UserInitiated"
    assert "runtimeId" not in stopped["containers"][0]  # its process never started


async def test_own_deadline_says_where_the_task_was_stuck(cluster: Cluster) -> None:
    """start() gives up just before JupyterHub's start_timeout, with a message that helps."""
    add_agent_for(cluster, "EC2", "--hold-pending", "60")
    spawner = spawner_for(cluster, "EC2", start_timeout=2)
    began = time.monotonic()
    with pytest.raises(SpawnException) as raised:
        await spawner.start()
    assert time.monotonic() - began < 2  # before the hub's own timeout would fire
    message = raised.value.jupyterhub_message  # type: ignore[attr-defined]
    assert "did not start within 2 s (c.AWSSpawner.start_timeout)" in message
    assert "last news from ECS: Downloading the container image" in message
    stopped = await wait_stopped(cluster, spawner.task_arn)
    assert stopped["stopCode"] == "UserInitiated"


async def test_cancel_while_pending_stops_the_task(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE", "--hold-pending", "60")
    spawner = spawner_for(cluster, "FARGATE")
    starting = asyncio.ensure_future(spawner.start())
    deadline = time.monotonic() + 15
    while not any(
        e["message"].startswith("ECS placed")
        for e in (spawner._progress.events if spawner._progress else [])
    ):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    starting.cancel()  # the user pressed stop
    with pytest.raises(asyncio.CancelledError):
        await starting
    await wait_stopped(cluster, spawner.task_arn)
    assert running_tasks(cluster) == []


async def test_cancel_during_runtask_stops_the_task_it_made(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE")
    cluster.emulator.faults([{"operation": "ecs:RunTask", "kind": "slow", "rate": 1, "delay": 2.0}])
    spawner = spawner_for(cluster, "FARGATE")
    starting = asyncio.ensure_future(spawner.start())
    # Cancel while RunTask is in flight: it reached the proxy, which holds it for 2 s (a
    # fixed sleep instead raced with client start-up on a busy machine).
    deadline = time.monotonic() + 30
    while not cluster.emulator.stats()["calls"].get("ecs:RunTask"):
        assert time.monotonic() < deadline, "RunTask was never sent"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert not spawner.task_arn
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    (arn,) = cluster.ecs.list_tasks(cluster=CLUSTER, desiredStatus="STOPPED")["taskArns"]
    assert arn == spawner.task_arn
    await wait_stopped(cluster, arn)
    assert running_tasks(cluster) == []


# ------------------------------------------------------------- a hub that dies mid-spawn


@dataclass
class Commits:
    """The states a spawner committed to the hub database, in order."""

    states: list[dict[str, Any]]
    changed: asyncio.Event

    async def until(self, predicate: Any) -> dict[str, Any]:
        while not any(predicate(state) for state in self.states):
            await asyncio.wait_for(self.changed.wait(), timeout=15)
            self.changed.clear()
        return self.states[-1]


def dying_spawner(cluster: Cluster, **config: Any) -> tuple[AWSSpawner, Commits]:
    """A spawner whose hub "dies": what it committed is recorded, and when its start is
    cancelled it does no cleanup at all (a killed process runs no code)."""
    spawner = spawner_for(cluster, "FARGATE", **config)
    committed = Commits([], asyncio.Event())
    original = spawner.commit_state

    def record() -> None:
        original()
        committed.states.append(dict(spawner.get_state()))
        committed.changed.set()

    async def no_cleanup(_gateway: Any) -> None:
        return None

    spawner.commit_state = record  # type: ignore[method-assign]
    spawner._stop_after_failed_start = no_cleanup  # type: ignore[method-assign]
    return spawner, committed


async def test_hub_restart_after_runtask_resumes_the_spawn(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE", "--hold-pending", "1")
    dying, committed = dying_spawner(cluster)
    starting = asyncio.ensure_future(dying.start())
    await committed.until(lambda state: state.get("task_arn"))
    starting.cancel()  # the hub process dies
    with pytest.raises(asyncio.CancelledError):
        await starting
    last = committed.states[-1]
    assert "endpoint_url" not in last

    restarted = spawner_for(cluster, "FARGATE")
    restarted.load_state(last)
    assert await restarted.poll() is None  # still starting: the hub keeps it
    url = await restarted.get_url()  # waits for RUNNING and resolves
    assert await answers(url + "/") == 200
    await restarted.stop()
    assert running_tasks(cluster) == []


@pytest.mark.parametrize("then", ["resume", "stop"])
async def test_hub_restart_during_runtask_finds_the_task(cluster: Cluster, then: str) -> None:
    add_agent_for(cluster, "FARGATE")
    cluster.emulator.faults([{"operation": "ecs:RunTask", "kind": "slow", "rate": 1, "delay": 1.0}])
    dying, committed = dying_spawner(cluster)
    starting = asyncio.ensure_future(dying.start())
    state = await committed.until(lambda state: True)  # before RunTask: a token, no task
    assert state["client_token"]
    assert "task_arn" not in state
    await asyncio.sleep(0.3)
    starting.cancel()  # the hub dies while RunTask is in flight; ECS starts the task anyway
    with pytest.raises(asyncio.CancelledError):
        await starting
    cluster.emulator.faults([])

    restarted = spawner_for(cluster, "FARGATE")
    restarted.load_state(state)
    if then == "resume":
        assert await restarted.poll() is None
        assert restarted.task_arn  # found by its spawn tag
        url = await restarted.get_url()
        assert await answers(url + "/") == 200
    await restarted.stop()  # the hub stops servers that do not come back
    assert running_tasks(cluster) == []


# ------------------------------------------------------------------------ AWS trouble


async def test_poll_under_throttling_says_running(cluster: Cluster) -> None:
    add_agent_for(cluster, "FARGATE")
    # poll_interval 0: every poll wants a fresh answer, so it asks ECS.
    spawner = spawner_for(cluster, "FARGATE", aws_max_attempts=1, poll_interval=0)
    await spawner.start()
    cluster.emulator.faults([{"operation": "ecs:DescribeTasks", "kind": "throttle", "rate": 1}])
    assert await spawner.poll() is None  # throttled: "running", not "stopped"
    assert await spawner.poll() is None  # backing off: the last known state, no new call
    stats = cluster.emulator.stats()
    assert stats["faults"]["ecs:DescribeTasks"]["throttle"] == 1
    cluster.emulator.faults([])
    await asyncio.sleep(1.1)  # the first backoff is at most 1 s
    assert await spawner.poll() is None
    watcher = spawner.task_watcher(spawner.ecs_gateway())
    assert (await watcher.snapshot(spawner.task_arn, 60)).stale is False
    await spawner.stop()


async def test_state_is_in_the_hub_database_before_runtask_answers(
    cluster: Cluster, tmp_path: Any
) -> None:
    """With JupyterHub's own ORM on a real SQLite file: the clientToken is committed before
    RunTask, the ARN as soon as RunTask answers, both readable from another connection."""
    from jupyterhub import orm

    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    db = orm.new_session_factory(url)()
    user = orm.User(name="alice")
    db.add(user)
    db.commit()
    orm_spawner = orm.Spawner(user=user, name="")
    db.add(orm_spawner)
    db.commit()

    def read_state() -> dict[str, Any]:
        other = orm.new_session_factory(url)()
        try:
            return dict(other.query(orm.Spawner).one().state or {})
        finally:
            other.close()

    add_agent_for(cluster, "FARGATE")
    cluster.emulator.faults([{"operation": "ecs:RunTask", "kind": "slow", "rate": 1, "delay": 1.0}])
    spawner = spawner_for(cluster, "FARGATE")
    spawner.orm_spawner = orm_spawner
    starting = asyncio.ensure_future(spawner.start())
    await asyncio.sleep(0.5)  # RunTask is in flight
    before = read_state()
    assert before["client_token"] == spawner.client_token
    assert "task_arn" not in before
    await starting
    after = read_state()
    assert after["task_arn"] == spawner.task_arn
    assert after["endpoint_url"] == spawner.endpoint_url
    await spawner.stop()
    db.close()
