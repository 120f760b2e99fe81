"""Homes on the node's own disk (``node_home_directory``): ECS Anywhere and EC2 without EFS.

Pure tests of the revision (checked against botocore's model and the strict emulator's
RegisterTaskDefinition rules), then spawns on ECS Anywhere nodes of the emulator: each node's
agent maps host volumes into a folder of its own, runs the revision's helper container (a
real ``sh``) before the notebook server (tests/fake_notebook.py), and places tasks by the
``ec2InstanceId`` constraint the way ECS's cluster query language does.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from typing import Any

import pytest
from jupyterhub.spawner import SpawnException

from awsspawner.errors import ConfigurationError
from awsspawner.launch.homes import HOME_OWNER_CONTAINER, HomeTemplate, NodeHomeVolume
from awsspawner.launch.task_definitions import derived_registration

from .conftest import CLUSTER, CONTAINER, make_spawner
from .emulator import strict
from .emulator.launcher import Emulator
from .test_anywhere import anywhere_spawner, register, spawn_and_fetch

HOME = NodeHomeVolume(
    path="/srv/jupyterhub/alice", mount_path="/home/jovyan", uid=1000, gid=100, permissions="0750"
)
EC2_BASE: dict[str, Any] = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/nb:3",
    "family": "nb",
    "networkMode": "bridge",
    "requiresCompatibilities": ["EC2", "EXTERNAL"],
    "containerDefinitions": [
        {
            "name": CONTAINER,
            "image": "img:1",
            "memory": 1024,
            "logConfiguration": {"logDriver": "json-file"},
        }
    ],
}


def test_a_node_home_revision_binds_the_directory_and_fixes_its_owner_first() -> None:
    kwargs = derived_registration(EC2_BASE, [], container=CONTAINER, image="img:2", home=HOME)
    strict.validate_shape("ecs", "RegisterTaskDefinition", kwargs)
    strict.check_register_task_definition(kwargs)
    assert kwargs["family"].startswith("nb-home-")
    (volume,) = kwargs["volumes"]
    assert volume == {"name": "awsspawner-home", "host": {"sourcePath": "/srv/jupyterhub/alice"}}
    notebook, helper = kwargs["containerDefinitions"]
    assert notebook["mountPoints"] == [
        {"sourceVolume": "awsspawner-home", "containerPath": "/home/jovyan", "readOnly": False}
    ]
    assert notebook["dependsOn"] == [
        {"containerName": HOME_OWNER_CONTAINER, "condition": "SUCCESS"}
    ]
    assert helper["name"] == HOME_OWNER_CONTAINER
    assert helper["essential"] is False
    assert helper["user"] == "0"
    assert helper["image"] == "img:2"  # the notebook's image: already pulled
    assert helper["workingDirectory"] == helper["mountPoints"][0]["containerPath"]
    assert "chown 1000:100 . && chmod 0750 ." in helper["command"][0]
    # No task-level memory on EC2: every container needs its own.
    assert helper["memoryReservation"] == 32
    assert helper["logConfiguration"] == {"logDriver": "json-file"}


def test_with_task_memory_the_helper_reserves_none_of_its_own() -> None:
    base = {**EC2_BASE, "memory": "2048", "cpu": "1024"}
    kwargs = derived_registration(base, [], container=CONTAINER, image="img:1", home=HOME)
    assert "memoryReservation" not in kwargs["containerDefinitions"][1]


def test_the_helper_script_gives_only_a_new_root_owned_home_away(tmp_path: Any) -> None:
    """The helper's real script, run by a real sh in a directory this process owns: a home
    that is not root's (an existing one) is left alone."""
    import subprocess

    kwargs = derived_registration(EC2_BASE, [], container=CONTAINER, image="img:1", home=HOME)
    helper = kwargs["containerDefinitions"][1]
    someones = tmp_path / "someones"  # an existing home of someone: not root's
    someones.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(someones, 1234, 1234)
    system = tmp_path / "system"  # root's, not empty: a directory the node already had
    system.mkdir(mode=0o755)
    (system / "config").write_text("")
    for directory in (someones, system):
        before = directory.stat()
        subprocess.run([*helper["entryPoint"], *helper["command"]], cwd=directory, check=True)
        after = directory.stat()
        assert (after.st_uid, after.st_gid, after.st_mode) == (
            before.st_uid,
            before.st_gid,
            before.st_mode,
        )
    if os.geteuid() == 0:  # and a new, empty, root-owned one is given away
        new = tmp_path / "new"
        new.mkdir()
        subprocess.run([*helper["entryPoint"], *helper["command"]], cwd=new, check=True)
        info = new.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 100, 0o750)


@pytest.mark.parametrize(
    ("config", "key", "problem"),
    [
        ({"launch_type": "FARGATE"}, "node_home_directory", "no node disk"),
        ({"launch_type": "FARGATE_SPOT"}, "node_home_directory", "no node disk"),
        (
            {"launch_type": "EC2", "task_subnets": [], "efs_file_system_id": "fs-12345678"},
            "node_home_directory",
            "both set",
        ),
        (
            {"launch_type": "EC2", "task_subnets": [], "home_mount_path": "/"},
            "home_mount_path",
            "other than '/'",
        ),
    ],
)
def test_node_homes_that_cannot_work_are_refused_when_the_hub_starts(
    config: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"c\.AWSSpawner\.{key}") as info:
        make_spawner(node_home_directory="/srv/jupyterhub/{username}", **config)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("/srv/jupyter:hub/{username}", "not a directory name a node accepts"),
        ("/srv/../{username}", "not a directory name a node accepts"),
        ("/srv/homes", "has no {username}"),
        ("srv/{username}", "absolute path"),
        ("/srv/x{username}", "whole directory name"),
        # Names straight into a directory the node already uses: a user "lib" gets /var/lib.
        ("/home/{username}", "a directory of their own"),
        ("/srv/{username}", "a directory of their own"),
        ("/var/lib/{username}", "a directory of their own"),
        ("/etc/jupyter/{username}", "a directory of their own"),
    ],
)
def test_node_home_templates_are_checked(template: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.node_home_directory") as info:
        make_spawner(launch_type="EXTERNAL", task_subnets=[], node_home_directory=template)
    assert problem in str(info.value)


def test_node_home_names_are_escaped_as_efs_ones() -> None:
    template = HomeTemplate.parse_node("/srv/jupyterhub/{username}/{servername}")
    assert template.render(hub_id="h", username="../bob", servername="") == (
        "/srv/jupyterhub/%2E.%2Fbob/~default"
    )
    long = template.render(hub_id="h", username="x" * 400, servername="gpu")
    assert len(long.split("/")[3]) <= 255
    assert "%%" in long


# ------------------------------------------------------------------------- with nodes


def node_home_spawner(user: str, **config: Any) -> Any:
    return anywhere_spawner(
        family="anywhere-host",
        user=user,
        use_dynamic_port=True,
        port_range_start=9300,
        port_range_end=9399,
        node_home_directory="/srv/jupyterhub/{username}",
        **config,
    )


@pytest.fixture
def one_node(emulator: Emulator) -> Any:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    register(ecs, "anywhere-host", "host", ports=False)
    # Room for one notebook (256 MiB) and its helper (32), not two.
    return emulator.add_agent(
        CLUSTER, instance_id="mi-00000000000000051", address="127.0.0.51",
        options=["--memory", "400"],
    )  # fmt: skip


def run_task_bodies(emulator: Emulator) -> list[dict[str, Any]]:
    return [json.loads(b) for b in emulator.request_bodies("ecs:RunTask")]


async def test_a_node_home_is_made_owned_kept_and_pinned_to_its_node(
    emulator: Emulator, one_node: Any
) -> None:
    spawner = node_home_spawner("carol")
    await spawn_and_fetch(spawner)
    home = emulator.node_root(one_node.instance_id) / "srv" / "jupyterhub" / "carol"
    assert home.is_dir()
    if os.geteuid() == 0:  # the helper container gave the new home away (root can chown)
        info = home.stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1000, 100, 0o750)
    assert json.loads(spawner.home_nodes) == {
        f"{CLUSTER}/srv/jupyterhub/carol": one_node.instance_id
    }
    (home / "notes.txt").write_text("kept")
    await spawner.stop()
    spawner.clear_state()
    assert spawner.home_nodes  # the pin outlives the task

    await spawn_and_fetch(spawner)
    first, second = run_task_bodies(emulator)
    pin = {"type": "memberOf", "expression": f"ec2InstanceId == {one_node.instance_id}"}
    assert pin not in (first.get("placementConstraints") or [])
    assert pin in second["placementConstraints"]
    assert (home / "notes.txt").read_text() == "kept"
    await spawner.stop()


async def test_a_busy_home_node_fails_the_spawn_saying_so_and_a_gone_one_moves_it(
    emulator: Emulator, one_node: Any
) -> None:
    carol = node_home_spawner("carol")
    await spawn_and_fetch(carol)
    await carol.stop()
    carol.clear_state()
    dan = node_home_spawner("dan")
    await spawn_and_fetch(dan)  # the node is now full
    emulator.add_agent(CLUSTER, instance_id="mi-00000000000000052", address="127.0.0.52")

    with pytest.raises(SpawnException) as info:
        await carol.start()
    message = str(info.value)
    assert "Your home directory is on node mi-00000000000000051" in message
    assert "RESOURCE:MEMORY" in message
    assert not carol.task_arn
    assert not carol.client_token
    await dan.stop()

    # The node leaves the cluster: carol starts on the other one, told why.
    ecs = emulator.client("ecs")
    ecs.deregister_container_instance(
        cluster=CLUSTER, containerInstance=one_node.container_instance_arn, force=True
    )
    sent_before = len(run_task_bodies(emulator))
    await spawn_and_fetch(carol)
    # Looked up before RunTask (with a capacity provider strategy ECS would leave a task it
    # cannot place PROVISIONING): no RunTask pinned to the gone node was sent.
    (moved,) = run_task_bodies(emulator)[sent_before:]
    assert "mi-00000000000000051" not in json.dumps(moved)
    events = [e["message"] for e in carol._progress.events] if carol._progress else []
    assert any("which has left the cluster" in e for e in events), events
    assert json.loads(carol.home_nodes) == {
        f"{CLUSTER}/srv/jupyterhub/carol": "mi-00000000000000052"
    }
    await carol.stop()


async def test_a_superseded_home_revision_is_deregistered_after_the_next_spawn(
    emulator: Emulator, one_node: Any
) -> None:
    ecs = emulator.client("ecs")
    spawner = node_home_spawner("erin")
    await spawn_and_fetch(spawner)
    old = spawner.task_definition
    await spawner.stop()
    spawner.clear_state()
    # The admin changes the image: the next spawn derives a new revision; the old goes.
    spawner.image = "quay.io/jupyter/base-notebook:2026-02-01"
    await spawn_and_fetch(spawner)
    new = spawner.task_definition
    assert new != old
    await spawner.stop()
    for _ in range(50):
        status = ecs.describe_task_definition(taskDefinition=old)["taskDefinition"]["status"]
        if status == "INACTIVE":
            break
        await asyncio.sleep(0.05)
    assert status == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=new)["taskDefinition"]["status"] == "ACTIVE"
