"""Requests real ECS would refuse, fixed: public IPs, the tag budget, networkMode ``none`` and
capacity provider strategies. Each request built here is also checked against the emulator's
strict rules (tests/emulator/strict.py), which follow botocore's model and ECS's reference."""

from __future__ import annotations

import dataclasses
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub.objects import Hub
from jupyterhub.spawner import SpawnException

from awsspawner import AWSSpawner
from awsspawner.errors import ConfigurationError
from awsspawner.launch.run_task import SpawnIdentity, build_run_task_request
from awsspawner.launch.task_definitions import TaskDefinitionInfo, derived_registration

from .conftest import CLUSTER, CONTAINER, make_spawner, stand_in_user
from .emulator import strict
from .emulator.launcher import Emulator
from .test_requests import load_config, request_for

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/jupyter-notebook:3"


def accepted_by_ecs(
    request: dict[str, Any],
    revision_tags: dict[str, str] | None = None,
    cluster_default: list[dict[str, Any]] | None = None,
) -> None:
    """The request passes botocore's validation and ECS's RunTask rules (strict mode's)."""
    strict.validate_shape("ecs", "RunTask", request)
    revision = SimpleNamespace(
        tags=[{"key": k, "value": v} for k, v in (revision_tags or {}).items()],
        placement_constraints=[],
    )
    strict.check_run_task(request, revision, cluster_default or [])


def public_ip(request: dict[str, Any]) -> str:
    return str(request["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"])


# ------------------------------------------------------------------------------ public IPs


@pytest.mark.parametrize(
    ("launch_type", "sent"),
    [
        ("FARGATE", "ENABLED"),
        ("FARGATE_SPOT", "ENABLED"),
        ([{"capacityProvider": "FARGATE", "weight": 1}], "ENABLED"),
        ("EC2", "DISABLED"),
        ([{"capacityProvider": "gpu-asg", "weight": 1}], "DISABLED"),
    ],
)
def test_public_ip_only_where_ecs_gives_one(launch_type: Any, sent: str) -> None:
    request = request_for(make_spawner(launch_type=launch_type, assign_public_ip=True))
    assert public_ip(request) == sent
    accepted_by_ecs(request)


def test_public_ip_with_the_clusters_default_strategy_is_sent_and_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        spawner = make_spawner(launch_type=[], assign_public_ip=True)
    assert (
        "is sent with the cluster's default capacity provider strategy: ECS refuses the "
        "spawn if that strategy places tasks on EC2 capacity providers" in caplog.text
    )
    request = request_for(spawner)
    assert public_ip(request) == "ENABLED"  # what the admin configured
    accepted_by_ecs(request, cluster_default=[{"capacityProvider": "FARGATE", "weight": 1}])
    with pytest.raises(strict.StrictError, match="Assign public IP"):
        accepted_by_ecs(request, cluster_default=[{"capacityProvider": "gpu-asg", "weight": 1}])


def test_one_warning_per_profile_for_what_is_not_sent(caplog: pytest.LogCaptureFixture) -> None:
    """The original README: a Fargate Spot base with a public IP and placement constraints,
    and a GPU profile on EC2. Every user's spawner is built from it: one warning each."""
    config = load_config("seed_readme_config.py", "seed_readme_profiles.py")
    with caplog.at_level(logging.WARNING):
        for user in ("alice", "bob", "carol"):
            AWSSpawner(config=config, user=stand_in_user(user), hub=Hub(), api_token="tok")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    public = [w for w in warnings if "assign_public_ip = True is sent as DISABLED" in w]
    assert public == [
        "profile 'gpu': c.AWSSpawner.assign_public_ip = True is sent as DISABLED for "
        "launch_type EC2: ECS gives public IPs to Fargate tasks only"
    ]
    placement = [w for w in warnings if "placement_constraints is not sent" in w]
    # The base (Fargate Spot) and the two Fargate-Spot profiles that inherit the constraints.
    assert sorted(w.split(":")[0] for w in placement) == [
        "c.AWSSpawner.placement_constraints is not sent for launch_type capacity providers "
        "FARGATE_SPOT",
        "profile 'medium'",
        "profile 'small'",
    ]


# ------------------------------------------------------------------------------ tag budget


def test_task_tags_leave_room_for_awsspawners_own() -> None:
    make_spawner(task_tags={f"k{i}": "v" for i in range(42)})
    with pytest.raises(
        ConfigurationError, match=r"c.AWSSpawner.task_tags: has 43 tags.*room for 42"
    ):
        make_spawner(task_tags={f"k{i}": "v" for i in range(43)})


def taskdef_with_tags(tags: dict[str, str]) -> TaskDefinitionInfo:
    return TaskDefinitionInfo(
        arn=ARN,
        family="jupyter-notebook",
        network_mode="awsvpc",
        container_images={CONTAINER: "img:1"},
        tags=tags,
    )


def request_with(spawner: AWSSpawner, revision: TaskDefinitionInfo) -> dict[str, Any]:
    settings = spawner.spawn_settings()
    return build_run_task_request(
        settings,
        revision,
        SpawnIdentity(username="alice", server_name="gpu", profile="p", user_id="7"),
        command=[],
        environment={},
        client_token="token-1",
        port="8001",
    )


def test_propagated_revision_tags_count_against_the_limit() -> None:
    extra = {f"k{i}": "v" for i in range(30)}
    revision = taskdef_with_tags({f"rev{i}": "v" for i in range(15)})
    spawner = make_spawner(task_tags=extra, propagate_tags="TASK_DEFINITION")
    # 30 + 8 of ours + 15 propagated = 53.
    with pytest.raises(ConfigurationError) as caught:
        request_with(spawner, revision)
    message = str(caught.value)
    assert message.startswith("c.AWSSpawner.task_tags: the task would carry 53 tags")
    assert "propagate_tags" in message
    assert ARN in message
    # Without propagation the revision's tags are not copied: 38 tags, fine.
    request = request_with(make_spawner(task_tags=extra, propagate_tags="NONE"), revision)
    assert len(request["tags"]) == 38
    accepted_by_ecs(request, {f"rev{i}": "v" for i in range(15)})
    # aws: tags (CloudFormation's) and keys the request sets too do not add to the count.
    shared = {
        **{f"k{i}": "v" for i in range(10)},
        **{f"aws:cloudformation:{i}": "v" for i in range(9)},
    }
    request = request_with(spawner, taskdef_with_tags({**shared, "rev0": "v", "rev1": "v"}))
    accepted_by_ecs(request, {**shared, "rev0": "v", "rev1": "v"})  # 38 + 2 = 40


def test_derived_revisions_never_copy_aws_tags_and_stay_within_50() -> None:
    base = {
        "taskDefinitionArn": ARN,
        "family": "jupyter-notebook",
        "containerDefinitions": [{"name": CONTAINER, "image": "img:1"}],
    }
    base_tags = [{"key": "aws:cloudformation:stack-name", "value": "hub"}] + [
        {"key": f"team{i}", "value": "v"} for i in range(60)
    ]
    kwargs = derived_registration(base, base_tags, container=CONTAINER, image="img:2")
    keys = [tag["key"] for tag in kwargs["tags"]]
    assert not [k for k in keys if k.startswith("aws:")]
    assert len(keys) == 50
    assert keys[:47] == [f"team{i}" for i in range(47)]
    strict.check_register_task_definition(kwargs)
    strict.validate_shape("ecs", "RegisterTaskDefinition", kwargs)


# ---------------------------------------------------------------------- networkMode "none"


@pytest.mark.parametrize("launch_type", ["EC2", "EXTERNAL", []])
def test_network_mode_none_is_refused(launch_type: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"task_definition_family: .* networkMode 'none'"):
        request_for(make_spawner(launch_type=launch_type), "none")


async def test_network_mode_none_fails_before_any_run_task(emulator: Emulator) -> None:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="isolated",
        networkMode="none",
        requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": CONTAINER, "image": "img:1", "memory": 256}],
    )
    spawner = make_spawner(task_definition_family="isolated", launch_type="EC2")
    with pytest.raises(SpawnException, match="networkMode 'none'"):
        await spawner.start()
    calls = emulator.stats()["calls"]
    assert calls.get("ecs:DescribeTaskDefinition"), calls
    assert not calls.get("ecs:RunTask"), calls


# -------------------------------------------------------------- capacity provider strategies


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        ([{"capacityProvider": f"asg{i}", "weight": 1} for i in range(21)], "at most 20"),
        (
            [
                {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 2},
            ],
            "only one capacity provider of a strategy may set 'base'",
        ),
        (
            [{"capacityProvider": "FARGATE", "base": 1}, {"capacityProvider": "FARGATE_SPOT"}],
            "needs a 'weight' above 0",
        ),
        (
            [
                {"capacityProvider": "FARGATE", "weight": 1},
                {"capacityProvider": "gpu-asg", "weight": 1},
            ],
            "never both",
        ),
    ],
)
def test_strategies_ecs_refuses_fail_when_the_spawner_is_built(
    strategy: list[dict[str, Any]], words: str
) -> None:
    with pytest.raises(ConfigurationError, match=r"c.AWSSpawner.launch_type: ") as caught:
        make_spawner(launch_type=strategy)
    assert words in str(caught.value)
    with pytest.raises(strict.StrictError):  # and ECS would refuse it: strict mode agrees
        strict.check_strategy(strategy)


def test_strategies_within_the_limits_are_sent() -> None:
    for strategy in (
        [{"capacityProvider": "FARGATE", "base": 1}],  # one provider alone: weight may be 0
        [
            {"capacityProvider": "FARGATE_SPOT", "weight": 4, "base": 2},
            {"capacityProvider": "FARGATE", "weight": 1},
        ],
        [{"capacityProvider": f"asg{i}", "weight": 1} for i in range(20)],
    ):
        request = request_for(make_spawner(launch_type=strategy))
        assert request["capacityProviderStrategy"] == strategy
        accepted_by_ecs(request)


def test_placement_constraints_count_the_revisions_own() -> None:
    rule = {"type": "memberOf", "expression": "attribute:gpu == true"}
    spawner = make_spawner(launch_type="EC2", placement_constraints=[rule] * 5)
    revision = taskdef_with_tags({})
    request_with(spawner, dataclasses.replace(revision, placement_constraint_count=5))
    with pytest.raises(ConfigurationError, match=r"placement_constraints: 5 configured and 6"):
        request_with(spawner, dataclasses.replace(revision, placement_constraint_count=6))


def test_placement_constraints_with_the_clusters_default_strategy_are_warned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rule = {"type": "memberOf", "expression": "attribute:gpu == true"}
    with caplog.at_level(logging.WARNING):
        make_spawner(launch_type=[], placement_constraints=[rule])
    assert "ECS refuses them if that strategy places tasks on Fargate" in caplog.text
