"""Pure RunTask building: every launch mode of the original README, and the rules botocore
and ECS enforce. No server: these check the request awsspawner would send."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jupyterhub.objects import Hub
from traitlets.config import Config, PyFileConfigLoader

from awsspawner import AWSSpawner, AWSSpawnerSecretAccessKeyAuthentication
from awsspawner.errors import ConfigurationError
from awsspawner.launch.run_task import MAX_OVERRIDES_CHARS, SpawnIdentity, build_run_task_request
from awsspawner.launch.tags import unescape_tag_value
from awsspawner.launch.task_definitions import TaskDefinitionInfo

from .conftest import CONTAINER, make_spawner, stand_in_user

CONFIGS = Path(__file__).parent / "configs"


def taskdef(network_mode: str = "awsvpc") -> TaskDefinitionInfo:
    return TaskDefinitionInfo(
        arn="arn:aws:ecs:us-east-1:123456789012:task-definition/jupyter-notebook:3",
        family="jupyter-notebook",
        network_mode=network_mode,
        container_images={CONTAINER: "jupyter/minimal-notebook:latest", "sidecar": "x"},
    )


def load_config(*names: str) -> Config:
    config = Config()
    for name in names:
        loader = PyFileConfigLoader(name, path=str(CONFIGS))
        config.merge(loader.load_config())
    return config


def request_for(spawner: AWSSpawner, network_mode: str = "awsvpc", **identity: Any) -> dict:
    settings = spawner.spawn_settings()
    return build_run_task_request(
        settings,
        taskdef(network_mode),
        SpawnIdentity(username=spawner.user.name, **identity),
        command=spawner.server_command(settings),
        environment=spawner.get_env(),
        client_token="token-1",
    )


def seed_spawner(**overrides: Any) -> AWSSpawner:
    config = load_config("seed_readme_config.py")
    for key, value in overrides.items():
        config.AWSSpawner[key] = value
    return AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")


def test_seed_readme_configuration_loads_and_builds_its_request() -> None:
    spawner = seed_spawner()
    request = request_for(spawner)
    # The README's last launch_type assignment wins: its FARGATE_SPOT strategy, verbatim.
    assert request["capacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1}
    ]
    assert "launchType" not in request
    assert request["cluster"] == "your-ecs-cluster-name"
    assert request["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-xxxxxxxxxxxxxxxxx"],
            "securityGroups": ["sg-xxxxxxxxxxxxxxxxx"],
            "assignPublicIp": "ENABLED",
        }
    }
    overrides = request["overrides"]
    assert overrides["cpu"] == "1024"  # strings: botocore rejects ints here
    assert overrides["memory"] == "2048"
    assert overrides["taskRoleArn"] == "arn:aws:iam::123456789012:role/your-task-role"
    container = overrides["containerOverrides"][0]
    assert container["name"] == "notebook"
    assert container["memoryReservation"] == 1024  # container level, never task level
    assert "memoryReservation" not in overrides
    assert container["command"][0] == "jupyterhub-singleuser"
    assert container["command"][-1] == "--NotebookApp.allow_origin=*"
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["JUPYTERHUB_API_TOKEN"] == "tok"
    assert request["propagateTags"] == "TASK_DEFINITION"
    assert request["enableECSManagedTags"] is True
    tags = {t["key"]: t["value"] for t in request["tags"]}
    assert tags["Jupyter-User"] == "alice"
    # The README's placement constraints are for ECS Anywhere; Fargate Spot refuses them.
    assert "placementConstraints" not in request
    assert spawner.notebook_scheme == "http"
    assert spawner.image == "jupyter/minimal-notebook:latest"
    assert spawner.use_dynamic_port is True
    assert (spawner.port_range_start, spawner.port_range_end) == (8000, 9000)


@pytest.mark.parametrize(
    ("launch_type", "expected"),
    [
        ("FARGATE", {"launchType": "FARGATE"}),
        (
            "FARGATE_SPOT",
            {
                "capacityProviderStrategy": [
                    {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1}
                ]
            },
        ),
        ("EC2", {"launchType": "EC2"}),
        ("EXTERNAL", {"launchType": "EXTERNAL"}),
    ],
)
def test_seed_readme_launch_options(launch_type: str, expected: dict) -> None:
    network_mode = "bridge" if launch_type in ("EC2", "EXTERNAL") else "awsvpc"
    spawner = seed_spawner(launch_type=launch_type, assign_public_ip=launch_type != "EC2")
    request = request_for(spawner, network_mode)
    for key, value in expected.items():
        assert request[key] == value
    assert not ("launchType" in request and "capacityProviderStrategy" in request)
    if network_mode == "bridge":
        assert "networkConfiguration" not in request
        assert request["placementConstraints"] == [
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}
        ]
    else:
        assert "networkConfiguration" in request
        assert "placementConstraints" not in request


def test_seed_readme_anywhere_block_loads() -> None:
    config = load_config("seed_readme_config.py", "seed_readme_anywhere.py")
    spawner = AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")
    request = request_for(spawner, "host")
    assert request["launchType"] == "EXTERNAL"
    assert request["placementConstraints"] == [
        {"type": "memberOf", "expression": "attribute:gpu-enabled == true"}
    ]
    assert "networkConfiguration" not in request


def test_seed_readme_auth_blocks_load() -> None:
    config = load_config("seed_readme_config.py", "seed_readme_auth_keys.py")
    spawner = AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")
    assert isinstance(spawner.authentication, AWSSpawnerSecretAccessKeyAuthentication)
    assert spawner.authentication.aws_access_key_id == "YOUR_ACCESS_KEY"
    config = load_config("seed_readme_config.py", "seed_readme_auth_default.py")
    AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")


def test_seed_readme_profiles_load() -> None:
    config = load_config("seed_readme_config.py", "seed_readme_profiles.py")
    spawner = AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")
    assert [p[1] for p in spawner.profiles][:3] == ["small", "medium", "gpu"]
    # Each profile's values make valid settings for a spawn (profiles are applied per spawn).
    for _display, _key, values in spawner.profiles:
        spawner.spawn_settings(values)


def test_unset_values_are_not_sent() -> None:
    request = request_for(make_spawner())
    overrides = request["overrides"]
    assert "cpu" not in overrides
    assert "memory" not in overrides
    assert "taskRoleArn" not in overrides
    assert "memoryReservation" not in overrides["containerOverrides"][0]
    assert "placementConstraints" not in request
    assert "platformVersion" not in request
    assert request["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"


def test_empty_strategy_sends_neither_launch_field() -> None:
    request = request_for(make_spawner(launch_type=[]))
    assert "launchType" not in request
    assert "capacityProviderStrategy" not in request


def test_capacity_provider_strategy_is_sent_verbatim() -> None:
    strategy = [
        {"capacityProvider": "gpu-asg", "weight": 1, "base": 0},
        {"capacityProvider": "cpu-asg", "weight": 3},
    ]
    request = request_for(make_spawner(launch_type=strategy))
    assert request["capacityProviderStrategy"] == strategy


def test_ec2_bridge_sends_no_network_configuration_even_with_subnets() -> None:
    request = request_for(make_spawner(launch_type="EC2"), "bridge")
    assert "networkConfiguration" not in request


def test_awsvpc_task_definition_needs_subnets_even_on_ec2() -> None:
    spawner = make_spawner(launch_type="EC2", task_subnets=[])
    with pytest.raises(ConfigurationError, match=r"c.AWSSpawner.task_subnets: is required"):
        request_for(spawner, "awsvpc")


def test_fargate_needs_an_awsvpc_task_definition() -> None:
    with pytest.raises(ConfigurationError, match="Fargate tasks need 'awsvpc'"):
        request_for(make_spawner(), "bridge")


def test_external_refuses_awsvpc() -> None:
    with pytest.raises(ConfigurationError, match="ECS Anywhere"):
        request_for(make_spawner(launch_type="EXTERNAL"), "awsvpc")


def test_unknown_container_name_is_a_config_error() -> None:
    with pytest.raises(ConfigurationError, match=r"'jupyter' is not a container.*'notebook'"):
        request_for(make_spawner(task_container_name="jupyter"))


def test_started_by_and_tags_identify_hub_user_and_server() -> None:
    spawner = make_spawner(hub_id="research-hub", task_tags={"team": "physics"})
    request = request_for(spawner, server_name="gpu box/1", profile="gpu")
    assert request["startedBy"] == "jupyterhub-research-hub"
    tags = {t["key"]: t["value"] for t in request["tags"]}
    assert tags == {
        "team": "physics",
        "Jupyter-User": "alice",
        "awsspawner:user": "alice",
        "awsspawner:server": "gpu box/1",
        "awsspawner:hub": "research-hub",
        "awsspawner:profile": "gpu",
        "awsspawner:spawn": "token-1",
    }


def test_hostile_user_names_become_valid_distinct_tags() -> None:
    names = ["o'brien#1", "o=27brien=231", "🙂", "a" * 300, "a" * 299 + "b"]
    values = []
    for name in names:
        request = request_for(make_spawner(user=name))
        value = {t["key"]: t["value"] for t in request["tags"]}["awsspawner:user"]
        values.append(value)
        assert len(value) <= 256
        if len(name) < 100:
            assert unescape_tag_value(value) == name
    assert len(set(values)) == len(names)


def test_command_is_cmd_then_hub_args_then_notebook_args() -> None:
    spawner = make_spawner(
        cmd=["start-singleuser.sh"], args=["--debug"], notebook_args=["--ServerApp.x=1"]
    )
    container = request_for(spawner)["overrides"]["containerOverrides"][0]
    assert container["command"][0] == "start-singleuser.sh"
    assert container["command"].index("--debug") < container["command"].index("--ServerApp.x=1")


def test_oversized_overrides_fail_without_showing_values() -> None:
    spawner = make_spawner(environment={"BIG": "v" * MAX_OVERRIDES_CHARS})
    with pytest.raises(ConfigurationError) as caught:
        request_for(spawner)
    assert "BIG" in str(caught.value)
    assert "secret-api-token" not in str(caught.value)
    assert "vvvv" not in str(caught.value)


def test_request_is_json_serialisable_and_stable() -> None:
    spawner = make_spawner()
    first = json.dumps(request_for(spawner), sort_keys=True)
    second = json.dumps(request_for(spawner), sort_keys=True)
    assert first == second  # retries resend byte-identical parameters
