"""Pure task definition derivation."""

from __future__ import annotations

import botocore.session

from awsspawner.launch.task_definitions import (
    REGISTER_FIELDS,
    TaskDefinitionInfo,
    derived_family_name,
    derived_registration,
    is_current_derivation,
)

DESCRIBED = {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/nb:4",
    "family": "nb",
    "revision": 4,
    "status": "ACTIVE",
    "networkMode": "bridge",
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
    "compatibilities": ["EC2", "EXTERNAL"],
    "registeredAt": "2026-01-01T00:00:00Z",
    "registeredBy": "arn:aws:iam::1:user/admin",
    "containerDefinitions": [
        {"name": "notebook", "image": "old:1", "memory": 512},
        {"name": "sidecar", "image": "side:1", "memory": 64},
    ],
}


def test_register_fields_match_botocore_model() -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    accepted = set(model.operation_model("RegisterTaskDefinition").input_shape.members)
    described = set(model.shape_for("TaskDefinition").members)
    assert set(REGISTER_FIELDS) <= accepted
    # Every field the answer has and registration accepts is copied (except tags, set apart).
    assert (accepted & described) - {"tags"} <= set(REGISTER_FIELDS)


def test_derivation_replaces_only_the_notebook_image_and_drops_read_only_fields() -> None:
    kwargs = derived_registration(
        DESCRIBED, [{"key": "team", "value": "x"}], container="notebook", image="new:2"
    )
    assert kwargs["family"] == derived_family_name("nb", "notebook", "new:2")
    images = {c["name"]: c["image"] for c in kwargs["containerDefinitions"]}
    assert images == {"notebook": "new:2", "sidecar": "side:1"}
    for read_only in (
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ):
        assert read_only not in kwargs
    assert DESCRIBED["containerDefinitions"][0]["image"] == "old:1"  # input untouched
    tags = {t["key"]: t["value"] for t in kwargs["tags"]}
    assert tags["team"] == "x"


def test_current_derivation_is_recognised_and_a_new_base_is_not() -> None:
    kwargs = derived_registration(DESCRIBED, [], container="notebook", image="new:2")
    derived = TaskDefinitionInfo.from_description(
        {**kwargs, "taskDefinitionArn": "arn:derived:1", "revision": 1}, kwargs["tags"]
    )
    base = TaskDefinitionInfo.from_description(DESCRIBED)
    assert is_current_derivation(derived, base, container="notebook", image="new:2")
    assert not is_current_derivation(derived, base, container="notebook", image="new:3")
    newer = TaskDefinitionInfo.from_description({**DESCRIBED, "taskDefinitionArn": "arn:nb:5"})
    assert not is_current_derivation(derived, newer, container="notebook", image="new:2")


def test_derived_family_names_are_valid_and_distinct() -> None:
    long_family = "f" * 255
    name = derived_family_name(long_family, "notebook", "img:1")
    assert len(name) <= 255
    assert name != derived_family_name(long_family, "notebook", "img:2")
