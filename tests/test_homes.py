"""Persistent homes on EFS: the directory each user gets, their access point and revision.

Pure tests of the path template and its escaping, then spawns against the emulator (its EFS
answers as EFS does: ClientToken idempotency with AccessPointAlreadyExists, the path rules,
the access point limit; see tests/emulator/efs_ext.py). Fargate tasks are born RUNNING here
(no agent runs them): what is checked is what the hub asked AWS for.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyterhub.spawner import SpawnException

from awsspawner import close_shared_clients
from awsspawner.errors import ConfigurationError
from awsspawner.launch.homes import HomeTemplate, HomeVolume, escape_path_component, home_directory
from awsspawner.launch.tags import TAG_USER, escape_tag_value
from awsspawner.launch.task_definitions import derived_registration

from .conftest import CLUSTER, CONTAINER, FAMILY, make_spawner
from .emulator import strict
from .emulator.launcher import Emulator, http

EFS_PATH = re.compile(r"^(\/|(\/(?!\.)+[^$#<>;`|&?{}^*/\n]+){1,4})$")
EFS_TAG = re.compile(r"^([\w\s.:/=+\-@]*)$")
DEFAULT = HomeTemplate.parse("/jupyterhub/{hub_id}/{username}")


def path_of(username: str, template: HomeTemplate = DEFAULT, servername: str = "") -> str:
    return template.render(hub_id="prod", username=username, servername=servername)


# ----------------------------------------------------------------------------- the path

HOSTILE = [
    "alice",
    "Alice",  # EFS is case-sensitive: a different directory
    "\u0430lice",  # a Cyrillic a (U+0430): looks the same, is not
    "..",
    ".",
    "../bob",
    "a/b",
    "a%2Fb",  # what a/b would be without escaping the escape character
    "home-alice",
    "x" * 300 + "%",
    ".hidden",
    "~default",
    "-",
    "$(rm -rf /)",
    "a;b|c&d",
    "x" * 300,
    "x" * 299 + "y",  # shares 299 characters with the one above: cut, still distinct
    "名前",
    "",
]


def test_hostile_and_look_alike_names_give_valid_distinct_directories() -> None:
    paths = [path_of(name) for name in HOSTILE]
    assert len(set(paths)) == len(HOSTILE)
    for path in paths:
        assert len(path) <= 100, path
        assert EFS_PATH.match(path), path
        assert path.startswith("/jupyterhub/prod/")
        assert path.count("/") == 3  # nobody leaves the prefix or adds a level
    assert path_of("jane.doe-2@lab") == "/jupyterhub/prod/jane.doe-2@lab"  # plain names stay
    assert path_of("..") != "/jupyterhub/prod/.."


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_escaping_is_one_to_one_and_always_valid(first: str, second: str) -> None:
    one, two = path_of(first), path_of(second)
    assert EFS_PATH.match(one)
    assert len(one) <= 100
    assert (one == two) == (first == second)
    escaped = escape_path_component(first)
    assert "/" not in escaped
    assert not escaped.startswith(".")


def test_servers_share_a_home_unless_the_template_names_them() -> None:
    assert path_of("bob", servername="gpu") == path_of("bob")
    per_server = HomeTemplate.parse("/homes/{username}/{servername}")
    default, gpu = path_of("bob", per_server), path_of("bob", per_server, "gpu")
    assert default == "/homes/bob/~default"
    assert gpu == "/homes/bob/gpu"
    assert path_of("bob", per_server, "~default") != default  # no server can take its place


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("jupyterhub/{username}", "absolute path"),
        ("/jupyterhub/{username}/", "absolute path"),
        ("/a//{username}", "absolute path"),
        ("/a/b/c/d/{username}", "at most 4"),
        ("/shared/{hub_id}", "no {username}"),
        ("/x/{username}-{servername}", "whole directory name"),
        ("/x/{username}{username}", "whole directory name"),
        ("/.snapshots/{username}", "not a directory name EFS accepts"),
        ("/a$b/{username}", "not a directory name EFS accepts"),
        ("/x/{user}", "known: {hub_id}, {username}, {servername}"),
        ("/" + "x" * 80 + "/{username}", "characters per name"),
    ],
)
def test_templates_that_cannot_work_are_refused_when_the_hub_starts(
    template: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.efs_home_directory") as info:
        make_spawner(efs_file_system_id="fs-12345678", efs_home_directory=template)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("config", "key", "problem"),
    [
        ({"launch_type": "EXTERNAL", "task_subnets": []}, "efs_file_system_id", "Anywhere"),
        ({"platform_version": "1.3.0"}, "platform_version", "1.4.0"),
        ({"efs_transit_encryption": False}, "efs_transit_encryption", "IAM"),
        ({"home_mount_path": "home"}, "home_mount_path", "absolute"),
        ({"efs_file_system_id": "my-home-fs"}, "efs_file_system_id", "not an EFS file system"),
        ({"efs_home_permissions": "rwx"}, "efs_home_permissions", "octal"),
    ],
)
def test_storage_settings_are_checked_when_the_hub_starts(
    config: dict[str, Any], key: str, problem: str
) -> None:
    settings = {"efs_file_system_id": "fs-12345678", "launch_type": "FARGATE", **config}
    with pytest.raises(ConfigurationError, match=rf"c\.AWSSpawner\.{key}") as info:
        make_spawner(**settings)
    assert problem in str(info.value)


def test_hostile_names_give_valid_distinct_access_point_tags() -> None:
    tags = [
        home_directory(
            DEFAULT,
            file_system_id="fs-12345678",
            uid=1000,
            gid=100,
            permissions="0750",
            hub_id="prod",
            username=name,
            servername="",
        ).tags
        for name in HOSTILE
    ]
    assert len({t[TAG_USER] for t in tags}) == len(HOSTILE)
    assert len({t["Name"] for t in tags}) == len(HOSTILE)
    for tag in tags:
        assert all(EFS_TAG.match(value) and len(value) <= 256 for value in tag.values()), tag


def test_a_profile_on_ecs_anywhere_that_keeps_the_home_is_refused_at_hub_start() -> None:
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.efs_file_system_id") as info:
        make_spawner(
            efs_file_system_id="fs-12345678",
            profile_list=[
                {"display_name": "Fargate", "slug": "fargate", "default": True},
                {
                    "display_name": "Anywhere",
                    "slug": "anywhere",
                    "spawner_override": {"launch_type": "EXTERNAL", "task_subnets": []},
                },
            ],
        )
    assert "anywhere" in str(info.value)


def test_a_profile_switches_homes_off_for_ecs_anywhere() -> None:
    spawner = make_spawner(
        efs_file_system_id="fs-12345678",
        profile_list=[
            {"display_name": "Fargate", "slug": "fargate", "default": True},
            {
                "display_name": "Anywhere",
                "slug": "anywhere",
                "spawner_override": {
                    "launch_type": "EXTERNAL",
                    "task_subnets": [],
                    "efs_file_system_id": None,
                },
            },
        ],
    )
    settings = spawner.spawn_settings({"launch_type": "EXTERNAL", "efs_file_system_id": None})
    assert settings.home_template is None
    assert spawner.spawn_settings().home_template is not None


def test_the_access_point_request_is_one_efs_accepts() -> None:
    home = home_directory(
        DEFAULT,
        file_system_id="arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-12345678",
        uid=1000,
        gid=100,
        permissions="0750",
        hub_id="prod",
        username="o'brien@example.org",
        servername="",
        user_id="7",
    )
    request = home.create_request()
    strict.validate_shape("efs", "CreateAccessPoint", request)
    assert request["FileSystemId"] == "fs-12345678"
    assert len(request["ClientToken"]) == 64
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags[TAG_USER] == escape_tag_value("o'brien@example.org")
    assert all(EFS_TAG.match(value) for value in tags.values())
    # The token is the access point's identity: the same everywhere, another for another uid.
    again = home_directory(
        DEFAULT,
        file_system_id="fs-12345678",
        uid=1000,
        gid=100,
        permissions="0750",
        hub_id="prod",
        username="o'brien@example.org",
        servername="",
    )
    assert again.client_token == home.client_token
    other = home_directory(
        DEFAULT,
        file_system_id="fs-12345678",
        uid=1001,
        gid=100,
        permissions="0750",
        hub_id="prod",
        username="o'brien@example.org",
        servername="",
    )
    assert other.client_token != home.client_token


HOME = HomeVolume(
    file_system_id="fs-12345678",
    access_point_id="fsap-0123456789abcdef0",
    mount_path="/home/jovyan",
    transit_encryption=True,
    iam_authorization=True,
)
BASE = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/nb:3",
    "family": "nb",
    "networkMode": "awsvpc",
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "1024",
    "memory": "2048",
    "containerDefinitions": [
        {"name": CONTAINER, "image": "img:1", "memory": 2048},
        {"name": "sidecar", "image": "side:1", "memory": 128},
    ],
    "volumes": [{"name": "scratch", "host": {}}],
}


def test_a_home_revision_mounts_the_access_point_in_the_notebook_container_only() -> None:
    kwargs = derived_registration(BASE, [], container=CONTAINER, image="img:1", home=HOME)
    strict.validate_shape("ecs", "RegisterTaskDefinition", kwargs)
    strict.check_register_task_definition(kwargs)
    assert kwargs["family"].startswith("nb-home-")
    (efs,) = [v for v in kwargs["volumes"] if "efsVolumeConfiguration" in v]
    assert efs["efsVolumeConfiguration"] == {
        "fileSystemId": "fs-12345678",
        "rootDirectory": "/",
        "transitEncryption": "ENABLED",
        "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"},
    }
    notebook, sidecar = kwargs["containerDefinitions"]
    assert notebook["mountPoints"] == [
        {"sourceVolume": efs["name"], "containerPath": "/home/jovyan", "readOnly": False}
    ]
    assert "mountPoints" not in sidecar
    assert {"name": "scratch", "host": {}} in kwargs["volumes"]  # the base's own stay


def test_a_base_that_mounts_something_at_the_home_path_is_refused() -> None:
    base = json.loads(json.dumps(BASE))
    base["containerDefinitions"][0]["mountPoints"] = [
        {"sourceVolume": "scratch", "containerPath": "/home/jovyan"}
    ]
    with pytest.raises(ConfigurationError, match=r"c\.AWSSpawner\.home_mount_path"):
        derived_registration(base, [], container=CONTAINER, image="img:1", home=HOME)


# ------------------------------------------------------------------------- with AWS


@pytest.fixture
def file_system(emulator: Emulator, fargate: str) -> str:
    return emulator.efs_file_system([fargate])


def home_spawner(subnet: str, file_system: str, user: str, server: str = "", **config: Any):  # type: ignore[no-untyped-def]
    return make_spawner(
        user=user,
        server_name=server,
        task_subnets=[subnet],
        launch_type="FARGATE",
        efs_file_system_id=file_system,
        **config,
    )


def access_points(emulator: Emulator, file_system: str) -> list[dict[str, Any]]:
    answer = emulator.client("efs").describe_access_points(FileSystemId=file_system)
    return list(answer["AccessPoints"])


def registered(emulator: Emulator) -> list[dict[str, Any]]:
    return [json.loads(b) for b in emulator.request_bodies("ecs:RegisterTaskDefinition")]


async def test_concurrent_first_spawns_make_one_access_point_and_revision_per_user(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    spawners = [home_spawner(fargate, file_system, "alice", server) for server in ("", "gpu")]
    spawners += [home_spawner(fargate, file_system, f"user{n}") for n in range(19)]
    await asyncio.gather(*(s.start() for s in spawners))

    points = access_points(emulator, file_system)
    assert len(points) == 20
    paths = sorted(p["RootDirectory"]["Path"] for p in points)
    assert paths == sorted(["/jupyterhub/jupyterhub/alice"] + [
        f"/jupyterhub/jupyterhub/user{n}" for n in range(19)
    ])  # fmt: skip
    for point in points:
        assert point["PosixUser"] == {"Uid": 1000, "Gid": 100}
        assert point["RootDirectory"]["CreationInfo"]["Permissions"] == "0750"
        tags = {t["Key"]: t["Value"] for t in point["Tags"]}
        assert point["RootDirectory"]["Path"].endswith("/" + tags[TAG_USER])
    stats = emulator.stats()["calls"]
    assert stats["efs:CreateAccessPoint"] == 20  # alice's two servers shared one call
    # Each new access point is looked at by its id until available; never a listing.
    queries = emulator.request_bodies("efs:DescribeAccessPoints")
    assert len(queries) == 20
    assert all(q.startswith("AccessPointId=fsap-") for q in queries)
    revisions = registered(emulator)
    assert len(revisions) == 20  # one per (user, image)
    assert len({r["family"] for r in revisions}) == 20
    # alice's two servers run the same revision, which mounts her access point.
    alice = {s.task_definition for s in spawners[:2]}
    assert len(alice) == 1
    described = emulator.client("ecs").describe_task_definition(taskDefinition=alice.pop())
    volume = described["taskDefinition"]["volumes"][0]["efsVolumeConfiguration"]
    (alices,) = [p for p in points if p["RootDirectory"]["Path"].endswith("/alice")]
    assert volume["authorizationConfig"]["accessPointId"] == alices["AccessPointId"]
    for spawner in spawners:
        await spawner.stop()


async def test_a_hub_restart_before_run_task_makes_no_second_access_point_or_revision(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    spawner = home_spawner(fargate, file_system, "alice")
    emulator.faults([{"operation": "ecs:RunTask", "kind": "denied", "rate": 1}])
    with pytest.raises(SpawnException, match="ECS refused"):
        await spawner.start()
    assert len(access_points(emulator, file_system)) == 1
    assert not emulator.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"]

    await close_shared_clients()  # a new hub process: nothing remembered
    emulator.faults([])
    again = home_spawner(fargate, file_system, "alice")
    await again.start()
    (point,) = access_points(emulator, file_system)  # EFS answered AlreadyExists with its id
    assert len(registered(emulator)) == 1  # the derived revision was found, not re-registered
    described = emulator.client("ecs").describe_task_definition(
        taskDefinition=again.task_definition
    )
    volume = described["taskDefinition"]["volumes"][0]["efsVolumeConfiguration"]
    assert volume["authorizationConfig"]["accessPointId"] == point["AccessPointId"]
    await again.stop()


async def test_an_image_change_derives_a_new_revision_at_the_next_spawn(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    first = home_spawner(fargate, file_system, "alice", image="img:2")
    await first.start()
    await first.stop()
    second = home_spawner(fargate, file_system, "alice", image="img:3")
    await second.start()
    await second.stop()
    revisions = registered(emulator)
    assert [r["containerDefinitions"][0]["image"] for r in revisions] == ["img:2", "img:3"]
    assert len(access_points(emulator, file_system)) == 1  # same home


async def test_throttled_registrations_make_spawns_wait_not_fail(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    emulator.faults(
        [{"operation": "ecs:RegisterTaskDefinition", "kind": "throttle", "rate": 1, "count": 2}]
    )
    spawner = home_spawner(fargate, file_system, "alice")
    await spawner.start()
    assert emulator.stats()["faults"]["ecs:RegisterTaskDefinition"]["throttle"] == 2
    assert len(registered(emulator)) == 3  # two throttled, then registered
    await spawner.stop()


async def test_a_storm_of_first_spawns_queues_for_registration_and_says_so(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    spawners = [home_spawner(fargate, file_system, f"user{n}") for n in range(6)]
    gateway = spawners[0].ecs_gateway()
    from awsspawner.aws.ratelimit import TokenBucket

    gateway._register_bucket = TokenBucket(rate=10.0, burst=1)  # ECS's 1/s, ten times faster
    await asyncio.gather(*(s.start() for s in spawners))
    messages = [e["message"] for s in spawners for e in (s._progress.events if s._progress else [])]
    preparing = [m for m in messages if m.startswith("Preparing your home directory")]
    assert len(preparing) == 6
    assert any(re.search(r"\(first start only\): \d in line for AWS", m) for m in preparing)
    for spawner in spawners:
        await spawner.stop()


async def test_no_access_point_left_to_make_fails_the_spawn_clearly_and_starts_nothing(
    emulator: Emulator, fargate: str, file_system: str
) -> None:
    http("POST", f"{emulator.server_url}/_emulator/efs", {"accessPointLimit": 1})
    await home_spawner(fargate, file_system, "alice").start()
    bob = home_spawner(fargate, file_system, "bob")
    with pytest.raises(SpawnException, match="AccessPointLimitExceeded") as info:
        await bob.start()
    assert "Could not prepare your server's task" in str(info.value)
    tasks = emulator.client("ecs").list_tasks(cluster=CLUSTER)["taskArns"]
    assert len(tasks) == 1  # alice's only
    assert not bob.task_arn
    assert not bob.client_token


async def test_without_a_file_system_nothing_changes(emulator: Emulator, fargate: str) -> None:
    spawner = make_spawner(task_subnets=[fargate], launch_type="FARGATE")
    await spawner.start()
    assert spawner.task_definition.split("/")[-1].startswith(FAMILY + ":")
    assert "efs:CreateAccessPoint" not in emulator.stats()["calls"]
    assert not registered(emulator)
    await spawner.stop()
