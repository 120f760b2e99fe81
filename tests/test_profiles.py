"""Profiles: both shapes, merging, the form, and user_options from every source."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from typing import Any

import pytest
from jupyterhub.objects import Hub
from jupyterhub.spawner import SpawnException
from tornado import web
from traitlets import TraitError

from awsspawner import AWSSpawner
from awsspawner.errors import ConfigurationError
from awsspawner.launch.run_task import build_run_task_request
from awsspawner.profiles.form import options_from_form, render_form
from awsspawner.profiles.menu import ChoiceError, choose, merge_overrides, parse_profiles
from awsspawner.profiles.options import OVERRIDABLE, check_user_options

from .conftest import CLUSTER, CONTAINER, FAMILY, make_spawner, stand_in_user
from .emulator.launcher import Emulator
from .helpers import http_status
from .test_real_ecs_rules import accepted_by_ecs
from .test_requests import load_config, seed_spawner, taskdef

# "0.0.0.0" inside a task: the agent rewrites it to the address the task's network gives it.
SERVER = [sys.executable, "-m", "http.server", "8888", "--bind", "0.0.0.0"]  # noqa: S104

IMAGE_OPTION = {
    "display_name": "Image",
    "choices": {
        "base": {
            "display_name": "Base",
            "default": True,
            "spawner_override": {"image": "quay.io/jupyter/base-notebook:2026-01-01"},
        },
        "scipy": {
            "display_name": "SciPy",
            "spawner_override": {"image": "quay.io/jupyter/scipy-notebook:2026-01-01"},
        },
    },
    "unlisted_choice": {
        "enabled": True,
        "display_name": "Other image",
        "validation_regex": r"^quay\.io/jupyter/[a-z-]+:[0-9-]+$",
        "validation_message": "an image from quay.io/jupyter with a date tag",
        "spawner_override": {"image": "{value}"},
    },
}

PROFILE_LIST: list[dict[str, Any]] = [
    {
        "display_name": "Small <script>alert(1)</script>",
        "slug": "small",
        "description": "1 vCPU & 2 GiB",
        "default": True,
        "spawner_override": {"cpu": 1024, "memory": 2048, "task_tags": {"size": "small"}},
        "profile_options": {"image": IMAGE_OPTION},
    },
    {
        "display_name": "GPU box",
        "slug": "gpu",
        "spawner_override": {
            "launch_type": "EC2",
            "cpu": 4096,
            "memory": 16384,
            "environment": {"NVIDIA_VISIBLE_DEVICES": "all"},
            "placement_constraints": [{"type": "memberOf", "expression": "attribute:gpu == true"}],
        },
    },
]


def parse(value: Any) -> list[Any]:
    return parse_profiles(value, key="profile_list", allowed=OVERRIDABLE)


# ------------------------------------------------------------------------------ parsing


def test_both_shapes_become_profiles() -> None:
    tuples = parse_profiles(
        [("Small", "small", {"cpu": 512}), ("Large", "large", {"cpu": 4096})],
        key="profiles",
        allowed=OVERRIDABLE,
    )
    assert [(p.slug, p.display_name, dict(p.overrides)) for p in tuples] == [
        ("small", "Small", {"cpu": 512}),
        ("large", "Large", {"cpu": 4096}),
    ]
    listed = parse(PROFILE_LIST)
    assert [p.slug for p in listed] == ["small", "gpu"]
    assert listed[0].options[0].default_choice.slug == "base"
    assert parse([{"display_name": "Data Science!"}])[0].slug == "data-science"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([("Small", "small", {"task_cluster_name": "other"})], "cannot change"),
        ([("Small", "small", {"hub_id": "x"})], "cannot change"),
        ([("Small", "small", {"cpus": 1})], "unknown setting 'cpus'"),
        ([{"display_name": "A", "kubespawner_override": {}}], "spawner_override"),
        ([{"display_name": "A", "slug": "a"}, {"display_name": "B", "slug": "a"}], "repeated"),
        ([{"display_name": ""}], "display_name"),
        ([("only two", "x")], "display_name, key"),
        (
            [{"display_name": "A", "profile_options": {"x": {"choices": {}}}}],
            "has no choices",
        ),
        (
            [
                {
                    "display_name": "A",
                    "profile_options": {
                        "x": {"unlisted_choice": {"enabled": True, "validation_regex": "("}}
                    },
                }
            ],
            "validation_regex is not valid",
        ),
    ],
)
def test_profile_mistakes_name_the_key(value: Any, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse(value)
    assert str(caught.value).startswith("c.AWSSpawner.profile_list:")
    assert words in str(caught.value)


def test_both_settings_set_is_a_config_error() -> None:
    with pytest.raises(ConfigurationError, match=r"profile_list: and c.AWSSpawner.profiles"):
        make_spawner(profiles=[("A", "a", {})], profile_list=[{"display_name": "B"}])


def test_a_profile_that_makes_invalid_settings_fails_at_construction() -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_spawner(profiles=[("Tiny", "tiny", {"cpu": 256, "memory": 4096})])
    assert str(caught.value).startswith(
        "c.AWSSpawner.profiles: profile 'tiny': c.AWSSpawner.memory"
    )


def test_merge_semantics() -> None:
    base = {"task_tags": {"team": "a", "cost": "x"}, "cpu": 1024, "notebook_args": ["--a"]}
    merged = merge_overrides(base, {"task_tags": {"cost": None, "size": "s"}, "cpu": None})
    assert merged == {"task_tags": {"team": "a", "size": "s"}, "notebook_args": ["--a"]}
    assert base["task_tags"] == {"team": "a", "cost": "x"}  # inputs untouched


# ------------------------------------------------------------------------------ choosing


def test_choose_defaults_and_options() -> None:
    profiles = parse(PROFILE_LIST)
    profile, overrides, chosen = choose(profiles, None)
    assert profile.slug == "small"
    assert overrides["image"].endswith("base-notebook:2026-01-01")
    assert chosen == {"image": "base"}
    _, overrides, chosen = choose(profiles, {"profile": "small", "image": "scipy"})
    assert overrides["image"].endswith("scipy-notebook:2026-01-01")
    free = "quay.io/jupyter/r-notebook:2026-02-02"
    _, overrides, chosen = choose(profiles, {"profile": "small", "image--unlisted-choice": free})
    assert overrides["image"] == free
    assert chosen == {"image": free}
    profile, overrides, _ = choose(profiles, {"profile": "gpu"})
    assert overrides["launch_type"] == "EC2"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"profile": "huge"}, "no profile 'huge'; choose one of 'small', 'gpu'"),
        ({"profile": "small", "image": "latest"}, "'latest' is not a choice of 'image'"),
        ({"profile": "small", "colour": "red"}, "unknown options ['colour']"),
        ({"profile": "gpu", "image": "base"}, "unknown options ['image']"),
        ({"profile": ["small"]}, "must be a string"),
        ({"profile": "small", "image": 3}, "must be a string"),
        ({"profile": "small", "image--unlisted-choice": "evil.example/miner:1"}, "quay.io"),
        (
            {"profile": "small", "image": "base", "image--unlisted-choice": "x"},
            "either 'image' or",
        ),
    ],
)
def test_bad_choices_say_what_is_allowed(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ChoiceError) as caught:
        choose(parse(PROFILE_LIST), options)
    assert words in str(caught.value)


# ---------------------------------------------------------------------------------- form


def test_form_is_escaped_and_preselects() -> None:
    html = render_form(parse(PROFILE_LIST), "gpu")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "1 vCPU &amp; 2 GiB" in html
    checked = re.findall(r'value="(\w+)"\s+checked', html)
    assert checked == ["gpu"]
    assert 'name="profile-option-small--image"' in html
    assert 'name="profile-option-small--image--unlisted-choice"' in html


async def test_spawner_form_preselects_the_previous_choice() -> None:
    spawner = make_spawner(profile_list=PROFILE_LIST)
    assert re.findall(r'value="(\w+)"\s+checked', await spawner.get_options_form()) == ["small"]
    spawner.user_options = {"profile": "gpu"}
    assert re.findall(r'value="(\w+)"\s+checked', await spawner.get_options_form()) == ["gpu"]


async def test_no_form_without_a_choice() -> None:
    assert await make_spawner().get_options_form() == ""
    assert await make_spawner(profiles=[("Only", "only", {"cpu": 512})]).get_options_form() == ""


async def test_admins_can_bring_their_own_template() -> None:
    spawner = make_spawner(
        profile_list=PROFILE_LIST,
        profile_form_template="{% for p in profiles %}[{{ p.display_name }}]{% endfor %}",
    )
    assert await spawner.get_options_form() == (
        "[Small &lt;script&gt;alert(1)&lt;/script&gt;][GPU box]"
    )


def test_options_from_form() -> None:
    spawner = make_spawner(profile_list=PROFILE_LIST)
    form = {
        "profile": ["small"],
        "profile-option-small--image": ["scipy"],
        "profile-option-small--image--unlisted-choice": [""],
        "profile-option-gpu--image": ["ignored: another profile's field"],
    }
    assert spawner.run_options_from_form(form) == {"profile": "small", "image": "scipy"}
    form["profile-option-small--image"] = ["--unlisted-choice"]
    form["profile-option-small--image--unlisted-choice"] = [" quay.io/jupyter/x:1 "]
    assert spawner.run_options_from_form(form) == {
        "profile": "small",
        "image--unlisted-choice": "quay.io/jupyter/x:1",
    }
    assert options_from_form({}) == {}


# ------------------------------------------------------------- the original README's list


def test_seed_readme_profiles_produce_their_requests() -> None:
    spawner = seed_spawner()
    config = load_config("seed_readme_config.py", "seed_readme_profiles.py")
    spawner.profiles = config.AWSSpawner.profiles
    expected = {
        "small": ("512", "1024", None, "awsvpc"),
        "medium": ("1024", "2048", None, "awsvpc"),
        "gpu": ("4096", "8192", "EC2", "awsvpc"),
        "dev": ("1024", "2048", "EXTERNAL", "bridge"),
        "prod": ("2048", "4096", "EXTERNAL", "bridge"),
        "high-mem": ("2048", "8192", "EXTERNAL", "host"),
        "gpu-anywhere": ("4096", "8192", "EXTERNAL", "host"),
    }
    for _display, slug, overrides in spawner.profiles:
        settings = spawner.spawn_settings(overrides)
        cpu, memory, launch_type, network = expected[slug]
        request = build_run_task_request(
            settings,
            taskdef(network),
            spawner.spawn_identity(slug),
            command=spawner.server_command(settings),
            environment={},
            client_token="t",
        )
        assert (request["overrides"]["cpu"], request["overrides"]["memory"]) == (cpu, memory)
        assert request.get("launchType") == launch_type
        tags = {t["key"]: t["value"] for t in request["tags"]}
        assert tags["awsspawner:profile"] == slug
        if launch_type == "EXTERNAL":
            assert "networkConfiguration" not in request
            assert request["placementConstraints"] == overrides["placement_constraints"]
        if slug in ("small", "medium"):  # the README's base strategy: Fargate Spot
            assert request["capacityProviderStrategy"][0]["capacityProvider"] == "FARGATE_SPOT"
            assert "placementConstraints" not in request
        if network == "awsvpc":  # the README's assign_public_ip = True: only Fargate gets one
            vpc = request["networkConfiguration"]["awsvpcConfiguration"]
            assert vpc["assignPublicIp"] == ("DISABLED" if slug == "gpu" else "ENABLED")
        accepted_by_ecs(request)  # what real ECS would say, as strict mode knows it


# ---------------------------------------------------------------- spawns through the emulator


@pytest.fixture
def profile_cluster(emulator: Emulator) -> str:
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for family, mode, compat in ((FAMILY, "awsvpc", "FARGATE"), ("gpu-family", "bridge", "EC2")):
        ecs.register_task_definition(
            family=family,
            networkMode=mode,
            requiresCompatibilities=[compat],
            containerDefinitions=[
                {"name": CONTAINER, "image": "quay.io/jupyter/base-notebook:2026-01-01",
                 "memory": 512, "portMappings": [{"containerPort": 8888}]}
            ],
        )  # fmt: skip
    emulator.add_agent(CLUSTER, fargate=True, options=["--hold-pending", "60"])
    return emulator.loopback_subnet()


def profile_spawner(subnet: str, **config: Any) -> Any:
    gpu = dict(PROFILE_LIST[1])
    gpu["spawner_override"] = {**gpu["spawner_override"], "task_definition_family": "gpu-family"}
    settings = {"profile_list": [PROFILE_LIST[0], gpu], "task_subnets": [subnet]}
    settings.update(config)
    return make_spawner(**settings)


async def run_task_request_of(spawner: Any, emulator: Emulator) -> dict[str, Any]:
    """Start a spawn, take the RunTask request it sent from the task ECS made, stop it."""
    seen: dict[str, Any] = {}

    def hook(_spawner: Any, request: dict[str, Any]) -> dict[str, Any]:
        seen.update(request)
        return request

    spawner.modify_run_task_hook = hook
    with pytest.raises(asyncio.TimeoutError):  # the agent holds tasks in PENDING
        await asyncio.wait_for(spawner.start(), timeout=1.5)
    return seen


async def test_seed_readme_gpu_profile_spawns_on_an_ec2_instance(emulator: Emulator) -> None:
    """The original README's configuration and profiles as they are (a Fargate Spot base with
    assign_public_ip = True, a GPU profile on EC2, an image per profile), against one awsvpc
    revision for both Fargate and EC2, under strict mode: the GPU profile's server runs on an
    EC2 instance and answers."""
    ecs = emulator.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="jupyter-notebook",
        networkMode="awsvpc",
        requiresCompatibilities=["EC2", "FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[
            {
                "name": "notebook",
                "image": "quay.io/jupyter/base-notebook:2026-01-01",
                "memory": 512,
                "portMappings": [{"containerPort": 8888}],
            }
        ],
    )
    subnet = emulator.loopback_subnet()
    group = emulator.client("ec2").create_security_group(
        GroupName="notebooks",
        Description="notebooks",
        VpcId=emulator.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"],
    )["GroupId"]
    # The README's base placement constraint (attribute:ecs.instance-type =~ t3.*) applies to
    # the GPU profile too: the emulator's EC2 instances are t3.medium.
    emulator.add_agent(
        CLUSTER, address="127.0.0.62", options=["--cpu", "8192", "--memory", "16384"]
    )
    config = load_config("seed_readme_config.py", "seed_readme_profiles.py")
    here = {
        "task_cluster_name": CLUSTER,
        "task_subnets": [subnet],
        "task_security_groups": [group],
        "cmd": SERVER,
        "aws_max_attempts": 1,
        "startup_poll_interval": 0.05,
        # The README's notebook_args are jupyter-server options; the stand-in server
        # (http.server) would refuse them.
        "notebook_args": [],
    }
    for key, value in here.items():
        config.AWSSpawner[key] = value
    spawner = AWSSpawner(config=config, user=stand_in_user(), hub=Hub(), api_token="tok")
    spawner.orm_spawner = None
    spawner.user_options = {"profile": "gpu"}
    seen: dict[str, Any] = {}

    def hook(_spawner: Any, request: dict[str, Any]) -> dict[str, Any]:
        seen.update(request)
        return request

    spawner.modify_run_task_hook = hook
    url = await asyncio.wait_for(spawner.start(), timeout=60)
    try:
        assert seen["launchType"] == "EC2"
        assert seen["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
        assert seen["taskDefinition"] != "jupyter-notebook"  # derived for the profile's image
        task = ecs.describe_tasks(cluster=CLUSTER, tasks=[spawner.task_arn])["tasks"][0]
        assert task["launchType"] == "EC2"
        assert task["containerInstanceArn"]
        assert await asyncio.to_thread(http_status, url) == 200
    finally:
        await spawner.stop()


async def test_rest_options_choose_the_profile_and_reset_between_spawns(
    emulator: Emulator, profile_cluster: str
) -> None:
    emulator.add_agent(CLUSTER, address="127.0.0.60", attributes={"gpu": "true"},
                       options=["--hold-pending", "60"])  # fmt: skip
    spawner = profile_spawner(profile_cluster)
    spawner.user_options = {"profile": "gpu"}  # as JupyterHub sets it from a REST body
    gpu = await run_task_request_of(spawner, emulator)
    assert gpu["launchType"] == "EC2"
    assert gpu["overrides"]["cpu"] == "4096"
    env = {e["name"]: e["value"] for e in gpu["overrides"]["containerOverrides"][0]["environment"]}
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert gpu["placementConstraints"] == [
        {"type": "memberOf", "expression": "attribute:gpu == true"}
    ]

    spawner.user_options = {"profile": "small", "image": "scipy"}
    small = await run_task_request_of(spawner, emulator)
    assert small["launchType"] == "FARGATE"  # the configured default, not the last profile's
    assert small["overrides"]["cpu"] == "1024"
    assert "placementConstraints" not in small
    env = {e["name"] for e in small["overrides"]["containerOverrides"][0]["environment"]}
    assert "NVIDIA_VISIBLE_DEVICES" not in env
    tags = {t["key"]: t["value"] for t in small["tags"]}
    assert tags["awsspawner:profile"] == "small"
    assert tags["size"] == "small"
    assert spawner.launch_type == "FARGATE"  # the long-lived spawner was never changed
    assert spawner.cpu is None


async def test_no_options_means_the_default_profile_and_it_is_recorded(
    emulator: Emulator, profile_cluster: str
) -> None:
    spawner = profile_spawner(profile_cluster)
    spawner.user_options = {}
    request = await run_task_request_of(spawner, emulator)
    assert request["overrides"]["cpu"] == "1024"
    assert spawner.user_options == {"profile": "small"}  # shown on the admin page


@pytest.mark.parametrize(
    "user_options",
    [
        {"profile": "huge"},
        {"profile": "small", "image": "latest"},
        {"profile": "small", "image--unlisted-choice": "evil.example/miner:1"},
        {"profile": "small", "extra": "x"},
        {"profile": {"nested": "dict"}},
    ],
)
async def test_rejected_options_start_no_task(
    emulator: Emulator, profile_cluster: str, user_options: dict[str, Any]
) -> None:
    spawner = profile_spawner(profile_cluster)
    spawner.user_options = user_options
    with pytest.raises(SpawnException) as caught:
        await spawner.start()
    assert caught.value.status_code == 400
    assert caught.value.message.startswith("Invalid server options:")
    calls = emulator.stats()["calls"]
    assert not any(op.startswith("ecs:") for op in calls), calls  # not one AWS call


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_profile_list_may_be_a_function(
    emulator: Emulator, profile_cluster: str, kind: str
) -> None:
    def for_user(spawner: Any) -> list[dict[str, Any]]:
        size = 2048 if spawner.user.name == "alice" else 1024
        return [{"display_name": "Mine", "spawner_override": {"cpu": 1024, "memory": size}}]

    async def for_user_async(spawner: Any) -> list[dict[str, Any]]:
        return for_user(spawner)

    spawner = make_spawner(
        profile_list=for_user if kind == "sync" else for_user_async, task_subnets=[profile_cluster]
    )
    assert await spawner.get_options_form() == ""  # a single profile: nothing to choose
    request = await run_task_request_of(spawner, emulator)
    assert request["overrides"]["memory"] == "2048"
    assert spawner.user_options == {"profile": "mine"}


# ---------------------------------------------------------------------- free-form values

FREE_FORM_LIST: list[dict[str, Any]] = [
    {
        "display_name": "Any image",
        "slug": "any",
        "profile_options": {
            "image": {
                "display_name": "Image",
                "choices": {"base": {"display_name": "Base", "default": True}},
                # No validation_regex: only the length limit stands between a user and AWS.
                "unlisted_choice": {"enabled": True, "spawner_override": {"image": "{value}"}},
            }
        },
    }
]


async def test_free_form_values_are_capped_before_any_aws_call(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should a regression reach AWS, it reaches a closed loopback port, never the internet.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    spawner = make_spawner(profile_list=FREE_FORM_LIST)
    huge = "x" * (5 * 1024 * 1024)
    spawner.user_options = {"profile": "any", "image--unlisted-choice": huge}
    with pytest.raises(web.HTTPError) as refused:
        await check_user_options(spawner, spawner.user_options)
    assert refused.value.status_code == 400
    assert "5242880 characters long; at most 1024 are allowed" in str(refused.value.log_message)
    with pytest.raises(SpawnException) as failed:
        await spawner.start()  # must fail before any AWS call
    assert failed.value.status_code == 400
    assert len(failed.value.message) < 300

    # Within the limit (a trait), the value is accepted and logged shortened.
    spawner = make_spawner(profile_list=FREE_FORM_LIST, unlisted_choice_max_length=2000)
    spawner.user_options = {"profile": "any", "image--unlisted-choice": "y" * 1500}
    with caplog.at_level(logging.INFO, logger=spawner.log.name):
        _, overrides = await spawner._chosen_profile()
    assert overrides["image"] == "y" * 1500
    assert all(len(record.getMessage()) < 300 for record in caplog.records)
    assert "image='yyyy" in caplog.text
    with pytest.raises(TraitError):
        make_spawner(unlisted_choice_max_length=0)
