"""Pure: which task definition revision a spawn runs, and how to derive one for another image.

When ``c.AWSSpawner.image`` differs from the image of the notebook container in the family's
latest revision, awsspawner registers a *derived* revision: a copy of that revision with the
image replaced. Derived revisions live in a family of their own,
``<family>-img-<12 hex digits>`` (the digits are a hash of family, container and image), and
are tagged with the base revision's ARN and the image. So after a hub restart one
DescribeTaskDefinition of the derived family says whether the revision can be reused: no
listing and no describing of every revision. A new base revision (the admin changed the task
definition) makes the tags disagree, and a fresh derived revision is registered.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .tags import (
    MAX_OWN_REVISION_TAGS,
    MAX_TAGS,
    TAG_BASE,
    TAG_IMAGE,
    TAG_IMAGE_HASH,
    escape_tag_value,
    is_aws_reserved,
    task_tags,
)

__all__ = [
    "REGISTER_FIELDS",
    "TaskDefinitionInfo",
    "derived_family_name",
    "derived_registration",
    "is_current_derivation",
]


#: The keys of DescribeTaskDefinition's answer that RegisterTaskDefinition accepts. Everything
#: else (taskDefinitionArn, revision, status, requiresAttributes, compatibilities,
#: registeredAt, registeredBy, deregisteredAt, ...) is read-only and is dropped. A test checks
#: this list against botocore's service model.
REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)


@dataclass(frozen=True)
class TaskDefinitionInfo:
    """What the spawner needs to know about the revision it runs."""

    arn: str
    family: str
    network_mode: str
    container_images: Mapping[str, str]
    container_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    requires_compatibilities: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    execution_role_arn: str = ""
    #: Each container's own ``environmentFiles`` (a RunTask override replaces them).
    environment_files: Mapping[str, tuple[Mapping[str, str], ...]] = field(default_factory=dict)
    #: Each container's own ``environment`` variable names (they win over environment files).
    environment_names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: How many placement constraints the revision itself has (they count toward ECS's 10).
    placement_constraint_count: int = 0

    @property
    def container_names(self) -> tuple[str, ...]:
        return tuple(self.container_images)

    @classmethod
    def from_description(
        cls, description: Mapping[str, Any], tags: Sequence[Mapping[str, str]] | None = None
    ) -> TaskDefinitionInfo:
        containers = description.get("containerDefinitions") or []
        return cls(
            arn=str(description["taskDefinitionArn"]),
            family=str(description.get("family", "")),
            # ECS's default network mode on Linux EC2 is bridge; Fargate always has awsvpc set.
            network_mode=str(description.get("networkMode") or "bridge"),
            container_images={str(c["name"]): str(c.get("image", "")) for c in containers},
            container_ports={
                str(c["name"]): tuple(
                    int(p["containerPort"])
                    for p in c.get("portMappings") or []
                    if "containerPort" in p
                )
                for c in containers
            },
            requires_compatibilities=tuple(description.get("requiresCompatibilities") or ()),
            tags=task_tags({"tags": tags}),
            execution_role_arn=str(description.get("executionRoleArn") or ""),
            environment_files={
                str(c["name"]): tuple(dict(f) for f in c.get("environmentFiles") or [])
                for c in containers
            },
            environment_names={
                str(c["name"]): frozenset(str(e.get("name")) for e in c.get("environment") or [])
                for c in containers
            },
            placement_constraint_count=len(description.get("placementConstraints") or []),
        )


def _image_digest(family: str, container: str, image: str) -> str:
    return hashlib.sha256(f"{family}\0{container}\0{image}".encode()).hexdigest()


def derived_family_name(family: str, container: str, image: str) -> str:
    """The family that holds revisions of ``family`` whose ``container`` runs ``image``."""
    suffix = "-img-" + _image_digest(family, container, image)[:12]
    return family[: 255 - len(suffix)] + suffix


def derived_registration(
    base: Mapping[str, Any],
    base_tags: Sequence[Mapping[str, str]] | None,
    *,
    container: str,
    image: str,
) -> dict[str, Any]:
    """RegisterTaskDefinition kwargs: ``base`` with ``container``'s image replaced.

    The base revision's tags are copied, but never its ``aws:`` ones (reserved: ECS refuses
    them from callers; CloudFormation puts them on the revisions it manages) nor our own; the
    copy keeps the first 47 so that with our 3 the revision stays within ECS's 50."""
    kwargs = {key: copy.deepcopy(base[key]) for key in REGISTER_FIELDS if key in base}
    kwargs["family"] = derived_family_name(str(base["family"]), container, image)
    for definition in kwargs.get("containerDefinitions", []):
        if definition.get("name") == container:
            definition["image"] = image
    copied = [
        (key, value)
        for key, value in task_tags({"tags": base_tags}).items()
        if not key.startswith("awsspawner:") and not is_aws_reserved(key)
    ]
    tags = dict(copied[: MAX_TAGS - MAX_OWN_REVISION_TAGS])
    tags[TAG_BASE] = escape_tag_value(str(base["taskDefinitionArn"]))
    tags[TAG_IMAGE] = escape_tag_value(image)
    tags[TAG_IMAGE_HASH] = _image_digest(str(base["family"]), container, image)
    kwargs["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return kwargs


def is_current_derivation(
    derived: TaskDefinitionInfo, base: TaskDefinitionInfo, *, container: str, image: str
) -> bool:
    """True when ``derived`` was made from exactly ``base`` for ``container`` running ``image``."""
    return (
        derived.tags.get(TAG_BASE) == escape_tag_value(base.arn)
        and derived.tags.get(TAG_IMAGE_HASH) == _image_digest(base.family, container, image)
        and derived.container_images.get(container) == image
    )
