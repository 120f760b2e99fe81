"""``awsspawner homes prepare|list|forget``, run as the administrator runs it: the installed
console script in its own process, reading a ``jupyterhub_config.py``, against the emulator
(through its counting proxy, so the test sees every AWS call the command made).
The ``--from-hub`` path against a real hub is in tests/e2e/test_homes.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import CLUSTER, CONTAINER, FAMILY, make_spawner
from .emulator.launcher import Emulator
from .helpers import run_awsspawner

CONFIG = """
c = get_config()  # noqa: F821
c.AWSSpawner.aws_region = "us-east-1"
c.AWSSpawner.task_cluster_name = {cluster!r}
c.AWSSpawner.task_definition_family = {family!r}
c.AWSSpawner.task_container_name = {container!r}
c.AWSSpawner.launch_type = "FARGATE"
c.AWSSpawner.task_subnets = [{subnet!r}]
c.AWSSpawner.efs_file_system_id = {file_system!r}
c.AWSSpawner.profile_list = [
    {{"display_name": "Fargate", "slug": "fargate", "default": True}},
    {{
        "display_name": "Anywhere",
        "slug": "anywhere",
        "spawner_override": {{
            "launch_type": "EXTERNAL",
            "task_subnets": [],
            "task_definition_family": "anywhere",
            "efs_file_system_id": None,
            "node_home_directory": "/srv/jupyterhub/{{username}}",
        }},
    }},
    {{
        "display_name": "No home",
        "slug": "scratch",
        "spawner_override": {{"efs_file_system_id": None}},
    }},
]
"""


def run(emulator: Emulator, config: Path, *args: str, stdin: str | None = None) -> Any:
    """``awsspawner homes ACTION -f CONFIG ...``."""
    return run_awsspawner(emulator, [*args[:2], "-f", str(config), *args[2:]], stdin)


@pytest.fixture
def file_system(emulator: Emulator, fargate: str) -> str:
    return emulator.efs_file_system([fargate])


@pytest.fixture
def config(emulator: Emulator, fargate: str, file_system: str, tmp_path: Path) -> Path:
    ecs = emulator.client("ecs")
    ecs.register_task_definition(
        family="anywhere",
        networkMode="host",
        requiresCompatibilities=["EXTERNAL"],
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 256}],
    )
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(
        CONFIG.format(
            cluster=CLUSTER,
            family=FAMILY,
            container=CONTAINER,
            subnet=fargate,
            file_system=file_system,
        )
    )
    return path


def operations(emulator: Emulator) -> dict[str, int]:
    return dict(emulator.stats()["calls"])


def spawner_of(user: str, subnet: str, file_system: str) -> Any:
    """The spawner the hub of CONFIG would build for ``user`` (its default profile)."""
    return make_spawner(
        user=user, task_subnets=[subnet], launch_type="FARGATE", efs_file_system_id=file_system
    )


async def test_prepare_makes_what_first_spawns_then_find(
    emulator: Emulator, config: Path, fargate: str, file_system: str
) -> None:
    users = ["ann", "ben", "cat", "Dr. Who"]
    done = run(emulator, config, "homes", "prepare", "--users", *users)
    assert done.returncode == 0, done.stderr
    assert "4/4 homes" in done.stderr
    assert "4 prepared, 0 failed" in done.stderr
    counted = operations(emulator)
    assert counted.get("efs:CreateAccessPoint") == 4
    assert counted.get("ecs:RegisterTaskDefinition") == 4

    # The spawns that follow register nothing: each finds its revision.
    spawners = [spawner_of(user, fargate, file_system) for user in users[:2]]
    for spawner in spawners:
        await spawner.start()
    assert operations(emulator).get("ecs:RegisterTaskDefinition") == 4

    # Prepared again: nothing new (the same access points, the same revisions).
    again = run(emulator, config, "homes", "prepare", "--users", *users)
    assert again.returncode == 0, again.stderr
    assert operations(emulator).get("ecs:RegisterTaskDefinition") == 4
    for spawner in spawners:
        await spawner.stop()


def test_list_shows_every_home_of_the_hub(emulator: Emulator, config: Path) -> None:
    assert run(emulator, config, "homes", "prepare", "--users", "ann", "ben").returncode == 0
    node = run(emulator, config, "homes", "prepare", "--users", "ann", "--profile", "anywhere")
    assert node.returncode == 0, node.stderr
    listed = run(emulator, config, "homes", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    homes = json.loads(listed.stdout)
    assert [(h["user"], h["kind"]) for h in homes] == [
        ("ann", "efs"),
        ("ann", "node"),
        ("ben", "efs"),
    ]
    ann_efs = homes[0]
    assert ann_efs["path"] == "/jupyterhub/jupyterhub/ann"
    assert ann_efs["access_point"].startswith("fsap-")
    assert len(ann_efs["revisions"]) == 1
    assert homes[1]["path"] == "/srv/jupyterhub/ann"
    table = run(emulator, config, "homes", "list").stdout.splitlines()
    assert table[0].split() == ["USER", "KIND", "HOME", "ACCESS", "POINT", "REVISIONS"]
    assert len(table) == 4


def test_forget_removes_access_points_and_revisions_never_files(
    emulator: Emulator, config: Path
) -> None:
    assert run(emulator, config, "homes", "prepare", "--users", "ann", "ben").returncode == 0
    ann = json.loads(run(emulator, config, "homes", "list", "--json").stdout)[0]
    files = emulator.efs_root / ann["file_system"] / "jupyterhub" / "jupyterhub" / "ann"
    files.mkdir(parents=True)
    (files / "thesis.tex").write_text("keep me")

    refused = run(emulator, config, "homes", "forget", "ann")  # no terminal, no --yes
    assert refused.returncode == 2
    assert "--yes" in refused.stderr

    done = run(emulator, config, "homes", "forget", "ann", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"deleted access point {ann['access_point']}" in done.stdout
    assert "The files stay" in done.stderr
    left = json.loads(run(emulator, config, "homes", "list", "--json").stdout)
    assert [h["user"] for h in left] == ["ben"]
    ecs = emulator.client("ecs")
    (revision,) = ann["revisions"]
    assert ecs.describe_task_definition(taskDefinition=revision)["taskDefinition"]["status"] == (
        "INACTIVE"
    )
    assert (files / "thesis.tex").read_text() == "keep me"


async def test_forget_refuses_a_user_whose_server_runs(
    emulator: Emulator, config: Path, fargate: str, file_system: str
) -> None:
    homes = run(emulator, config, "homes", "prepare", "--users", "ann")
    assert homes.returncode == 0, homes.stderr
    spawner = spawner_of("ann", fargate, file_system)
    await spawner.start()
    refused = run(emulator, config, "homes", "forget", "ann", "--yes")
    assert refused.returncode == 2
    assert "server(s) running" in refused.stderr
    assert operations(emulator).get("efs:DeleteAccessPoint") is None
    await spawner.stop()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--profile", "scratch"), "profile 'scratch' has no persistent homes"),
        (("--profile", "nope"), "no profile 'nope'"),
    ],
)
def test_prepare_refuses_what_it_cannot_do(
    emulator: Emulator, config: Path, args: tuple[str, ...], problem: str
) -> None:
    done = run(emulator, config, "homes", "prepare", "--users", "ann", *args)
    assert done.returncode == 2
    assert problem in done.stderr
    assert not operations(emulator).get("efs:CreateAccessPoint")


def test_a_missing_configuration_file_is_named(emulator: Emulator, tmp_path: Path) -> None:
    done = run(emulator, tmp_path / "nowhere.py", "homes", "list")
    assert done.returncode == 2
    assert "no configuration file" in done.stderr
