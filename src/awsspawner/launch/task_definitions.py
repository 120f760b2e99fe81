"""Pure: which task definition revision a spawn runs, and how to derive one from it.

RunTask can override a container's command and environment, not its image or volumes. When
``c.AWSSpawner.image`` differs from the image of the notebook container in the family's
latest revision, or the user has a persistent home (:mod:`.homes`), awsspawner registers a
*derived* revision: a copy of that revision with the image replaced and the home's EFS volume
mounted in the notebook container. One mechanism, one key: (base, container, image, volume).

Derived revisions live in a family of their own: ``<family>-img-<12 hex digits>`` for an
image only (names earlier releases made, still found), ``<family>-home-<12 hex digits>`` with
a home (one family per user and image). The digits are a hash of the key; the revision is
tagged with the base revision's ARN, the image and the full hash. Secrets
(``c.AWSSpawner.secrets``) are part of the key too: the notebook container's ``secrets`` can
only be set in a revision. So after a hub restart one
DescribeTaskDefinition of the derived family says whether its latest revision can be reused:
no listing and no describing of every revision. A new base revision (the admin changed the
task definition) makes the tags disagree, and a fresh derived revision is registered, lazily,
at each user's next spawn.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from .homes import HOME_VOLUME_NAME, AnyHomeVolume
from .secrets import TaskSecrets
from .tags import (
    MAX_TAGS,
    TAG_BASE,
    TAG_HUB,
    TAG_IMAGE,
    TAG_IMAGE_HASH,
    TAG_USER,
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
    "is_home_family",
]

_HOME_FAMILY = re.compile(r"-home-[0-9a-f]{12}$")


def is_home_family(family: str) -> bool:
    """Is ``family`` one awsspawner derives for one user's home (``<family>-home-<hash>``)?"""
    return bool(_HOME_FAMILY.search(family))


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


def _derivation_digest(
    family: str,
    container: str,
    image: str,
    home: AnyHomeVolume | None = None,
    secrets: TaskSecrets | None = None,
) -> str:
    # Without a home or secrets: the digest earlier releases computed, so their derived
    # families are found again after an upgrade.
    text = f"{family}\0{container}\0{image}"
    if home is not None:
        text += "\0" + home.key
    if secrets is not None:
        text += "\0" + secrets.key
    return hashlib.sha256(text.encode()).hexdigest()


def derived_family_name(
    family: str,
    container: str,
    image: str,
    home: AnyHomeVolume | None = None,
    secrets: TaskSecrets | None = None,
) -> str:
    """The family that holds revisions of ``family`` whose ``container`` runs ``image`` (and
    mounts ``home``, and gets ``secrets``)."""
    kind = "-img-" if home is None else "-home-"
    suffix = kind + _derivation_digest(family, container, image, home, secrets)[:12]
    return family[: 255 - len(suffix)] + suffix


def derived_registration(
    base: Mapping[str, Any],
    base_tags: Sequence[Mapping[str, str]] | None,
    *,
    container: str,
    image: str,
    home: AnyHomeVolume | None = None,
    owner: Mapping[str, str] | None = None,
    secrets: TaskSecrets | None = None,
) -> dict[str, Any]:
    """RegisterTaskDefinition kwargs: ``base`` with ``container``'s image replaced and, with a
    ``home``, its EFS volume added and mounted in ``container``.

    The base revision's tags are copied, but never its ``aws:`` ones (reserved: ECS refuses
    them from callers; CloudFormation puts them on the revisions it manages) nor our own; the
    copy keeps as many as leave room for our own (base, image, digest, and for a home the
    hub and the user, from ``owner``: at most MAX_OWN_REVISION_TAGS) within ECS's 50."""
    kwargs = {key: copy.deepcopy(base[key]) for key in REGISTER_FIELDS if key in base}
    family = str(base["family"])
    kwargs["family"] = derived_family_name(family, container, image, home, secrets)
    helpers: list[dict[str, Any]] = []
    for definition in kwargs.get("containerDefinitions", []):
        if definition.get("name") == container:
            definition["image"] = image
            if secrets is not None:
                secrets.add_to(definition)
            if home is not None:
                _mount_home(definition, home)
                helpers = home.helper_containers(definition, task_memory=bool(base.get("memory")))
                needed = home.depends_on()
                if needed is not None:
                    definition.setdefault("dependsOn", []).append(needed)
    names = {str(d.get("name")) for d in kwargs.get("containerDefinitions", [])}
    for helper in helpers:
        if helper["name"] in names:
            raise ConfigurationError(
                "task_definition_family",
                f"{base.get('taskDefinitionArn')} already has a container named "
                f"{helper['name']!r}, the name awsspawner gives its home helper; rename it",
            )
        kwargs["containerDefinitions"].append(helper)
    if home is not None:
        volumes = kwargs.setdefault("volumes", [])
        if any(v.get("name") == HOME_VOLUME_NAME for v in volumes):
            raise ConfigurationError(
                "task_definition_family",
                f"{base.get('taskDefinitionArn')} already has a volume named "
                f"{HOME_VOLUME_NAME!r}, the name awsspawner gives the home volume; rename it",
            )
        volumes.append(home.volume())
    own = {
        TAG_BASE: escape_tag_value(str(base["taskDefinitionArn"])),
        TAG_IMAGE: escape_tag_value(image),
        TAG_IMAGE_HASH: _derivation_digest(family, container, image, home, secrets),
    }
    for key in (TAG_HUB, TAG_USER):
        if owner and key in owner:
            own[key] = owner[key]
    copied = [
        (key, value)
        for key, value in task_tags({"tags": base_tags}).items()
        if not key.startswith("awsspawner:") and not is_aws_reserved(key)
    ]
    tags = {**dict(copied[: MAX_TAGS - len(own)]), **own}
    kwargs["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return kwargs


def _mount_home(definition: dict[str, Any], home: AnyHomeVolume) -> None:
    mounts = definition.setdefault("mountPoints", [])
    taken = [m for m in mounts if m.get("containerPath") == home.mount_path]
    if taken:
        raise ConfigurationError(
            "home_mount_path",
            f"container {definition.get('name')!r} of the task definition already mounts "
            f"volume {taken[0].get('sourceVolume')!r} at {home.mount_path}; choose another "
            "c.AWSSpawner.home_mount_path or remove that mount point",
        )
    mounts.append(home.mount_point())


def is_current_derivation(
    derived: TaskDefinitionInfo,
    base: TaskDefinitionInfo,
    *,
    container: str,
    image: str,
    home: AnyHomeVolume | None = None,
    secrets: TaskSecrets | None = None,
) -> bool:
    """True when ``derived`` was made from exactly ``base`` for ``container`` running ``image``
    (with ``home`` mounted, and ``secrets``)."""
    return (
        derived.tags.get(TAG_BASE) == escape_tag_value(base.arn)
        and derived.tags.get(TAG_IMAGE_HASH)
        == _derivation_digest(base.family, container, image, home, secrets)
        and derived.container_images.get(container) == image
    )
