"""Configuration mistakes fail when the spawner is built, naming the c.AWSSpawner key."""

from __future__ import annotations

from typing import Any

import pytest

from awsspawner.errors import ConfigurationError
from awsspawner.launch.spawn_settings import LaunchMode, fargate_memory_choices

from .conftest import make_spawner


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"task_cluster_name": ""}, "task_cluster_name", "required"),
        ({"task_definition_family": ""}, "task_definition_family", "required"),
        ({"task_container_name": ""}, "task_container_name", "required"),
        ({"aws_region": ""}, "aws_region", "required"),
        ({"task_subnets": []}, "task_subnets", "required for launch_type FARGATE"),
        (
            {"task_subnets": [], "launch_type": "FARGATE_SPOT"},
            "task_subnets",
            "capacity providers FARGATE_SPOT",
        ),
        ({"launch_type": "FARGATE_ONDEMAND"}, "launch_type", "unknown launch type"),
        ({"launch_type": [{"weight": 1}]}, "launch_type", "capacityProvider"),
        (
            {"launch_type": [{"capacityProvider": "cp", "weight": -1}]},
            "launch_type",
            "non-negative",
        ),
        (
            {"launch_type": [{"capacityProvider": "cp", "priority": 1}]},
            "launch_type",
            "unknown keys",
        ),
        ({"propagate_tags": "SERVICE"}, "propagate_tags", "RunTask rejects SERVICE"),
        ({"propagate_tags": "EVERYTHING"}, "propagate_tags", "TASK_DEFINITION"),
        ({"cpu": 300}, "cpu", "Fargate cannot run"),
        ({"cpu": 256, "memory": 4096}, "memory", "512, 1024, 2048"),
        ({"cpu": 1024, "memory": 1024}, "memory", "2048 to 8192"),
        ({"memory": 1024, "memory_reservation": 2048}, "memory_reservation", "cannot exceed"),
        (
            {"launch_type": "EC2", "placement_constraints": [{"type": "spread"}]},
            "placement_constraints",
            "unknown type 'spread'",
        ),
        (
            {"launch_type": "EC2", "placement_constraints": [{"type": "memberOf"}]},
            "placement_constraints",
            "needs an 'expression'",
        ),
        (
            {
                "launch_type": "EC2",
                "placement_constraints": [{"type": "distinctInstance", "expression": "x"}],
            },
            "placement_constraints",
            "takes no expression",
        ),
        ({"launch_type": "EXTERNAL", "platform_version": "1.4.0"}, "platform_version", "Fargate"),
        ({"port_range_start": 9500}, "port_range_start", "above"),
        ({"port_range_end": 70000}, "port_range_end", "1-65535"),
        ({"task_owner_tag_name": "aws:owner"}, "task_owner_tag_name", "not a valid ECS tag key"),
        ({"task_tags": {"awsspawner:user": "x"}}, "task_tags", "set by awsspawner"),
        ({"task_tags": {"team": "a#b"}}, "task_tags", "not a valid ECS tag value"),
        ({"modify_run_task_hook": "not callable"}, "modify_run_task_hook", "function"),
    ],
)
def test_mistakes_fail_at_construction_naming_the_key(
    config: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_spawner(**config)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"c.AWSSpawner.{key}:")
    assert words in str(caught.value)


def test_fargate_rules_apply_only_when_the_launch_is_certainly_fargate() -> None:
    # An EC2 capacity provider may be in the mix: cpu/memory pairs are the provider's business.
    make_spawner(launch_type=[{"capacityProvider": "my-asg"}], cpu=300, memory=100)
    make_spawner(launch_type="EC2", cpu=300, memory=100, task_subnets=[])
    make_spawner(launch_type=[], task_subnets=[])  # the cluster's default strategy


def test_valid_fargate_pairs_pass() -> None:
    for cpu in (256, 512, 1024, 2048, 4096, 8192, 16384):
        for memory in fargate_memory_choices(cpu) or ():
            make_spawner(cpu=cpu, memory=memory)


def test_launch_modes() -> None:
    assert LaunchMode.parse("fargate").launch_type == "FARGATE"
    spot = LaunchMode.parse("FARGATE_SPOT")
    assert spot.launch_type is None
    assert spot.strategy == ({"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1},)
    assert spot.certainly_fargate
    asg = LaunchMode.parse(
        [{"capacityProvider": "cpu-asg", "weight": 1}, {"capacityProvider": "asg"}]
    )
    assert not asg.certainly_fargate
    assert asg.refuses_public_ip
    assert not LaunchMode.parse([]).refuses_public_ip  # the cluster's default: cannot know
    assert LaunchMode.parse("EXTERNAL").is_external


def test_empty_notebook_scheme_means_http() -> None:
    assert make_spawner(notebook_scheme="").notebook_scheme == "http"


def test_placement_constraints_on_fargate_are_not_sent_and_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spawner = make_spawner(
        placement_constraints=[{"type": "memberOf", "expression": "attribute:x == y"}]
    )
    assert not spawner.spawn_settings().sends_placement_constraints
    assert "not sent for launch_type FARGATE" in caplog.text


def test_deprecated_settings_load_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    make_spawner(form_template="<form>", args_join=" ")
    assert "c.AWSSpawner.form_template is deprecated" in caplog.text
    assert "c.AWSSpawner.args_join is deprecated" in caplog.text


def test_spawn_settings_do_not_touch_the_spawner() -> None:
    spawner = make_spawner()
    settings = spawner.spawn_settings({"launch_type": "EC2", "cpu": 4096})
    assert settings.launch.launch_type == "EC2"
    assert spawner.launch_type == "FARGATE"
    assert spawner.cpu is None
