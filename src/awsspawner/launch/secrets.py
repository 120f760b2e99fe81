"""Pure: administrators' secrets for the notebook container, by reference.

``c.AWSSpawner.secrets`` maps environment variable names to the ARNs of Secrets Manager
secrets or SSM parameters. The hub never reads a value: each pair becomes an entry of the
notebook container's ``secrets`` in the user's derived revision (RunTask overrides cannot carry
secrets), and the ECS agent fetches the values with the task execution role when the task
starts. So DescribeTasks, the task definition and every request the hub sends hold ARNs only.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError

__all__ = ["TaskSecrets", "check_secrets", "secret_id", "ssm_parameter_name"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Secrets Manager: the secret's ARN, optionally with ECS's ``:json-key:version-stage:
#: version-id`` suffix (each part may be empty).
_SECRETS_MANAGER = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
    r"(:[^:]*:[^:]*:[^:]*)?$"
)
_SSM_PARAMETER = re.compile(r"^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+$")
#: Names the hub sets itself: a secret must not shadow them.
_HUB_PREFIXES = ("JUPYTERHUB_", "JPY_")


def check_secrets(value: Any, key: str = "secrets") -> dict[str, str]:
    """``value`` as {name: ARN}, or ConfigurationError naming what is wrong."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(key, f"must be a dict of NAME: ARN, not {type(value).__name__}")
    checked: dict[str, str] = {}
    for name, arn in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(
                key, f"{name!r} is not an environment variable name (letters, digits, _)"
            )
        if name.startswith(_HUB_PREFIXES):
            raise ConfigurationError(
                key, f"{name!r} would shadow a variable the hub sets (JUPYTERHUB_*, JPY_*)"
            )
        if not isinstance(arn, str) or not (
            _SECRETS_MANAGER.match(arn) or _SSM_PARAMETER.match(arn)
        ):
            # Never the value itself: an administrator may have pasted the secret.
            what = "a string" if isinstance(arn, str) else type(arn).__name__
            raise ConfigurationError(
                key,
                f"{name}: the value ({what} of {len(str(arn))} characters, not shown) is not "
                "the ARN of a Secrets Manager secret "
                "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or an SSM parameter "
                "(arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)",
            )
        checked[name] = arn
    return checked


def secret_id(arn: str) -> str:
    """A Secrets Manager ARN without ECS's ``:json-key:version-stage:version-id`` suffix."""
    return ":".join(arn.split(":")[:7])


def ssm_parameter_name(arn: str) -> str:
    """The name an SSM parameter ARN stands for: ``parameter/a/b`` is ``/a/b``, and
    ``parameter/x`` is ``x`` (names below the root start with ``/``)."""
    rest = arn.split(":parameter/", 1)[1]
    return "/" + rest if "/" in rest else rest


@dataclass(frozen=True)
class TaskSecrets:
    """The secrets a user's revision gives the notebook container, in a stable order."""

    items: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, value: Mapping[str, str]) -> TaskSecrets | None:
        """None for no secrets: then nothing about the revision changes."""
        return cls(tuple(sorted(value.items()))) if value else None

    @property
    def key(self) -> str:
        """The part of a derived revision's identity that the secrets decide."""
        text = "\0".join(f"{name}={arn}" for name, arn in self.items)
        return "secrets\0" + hashlib.sha256(text.encode()).hexdigest()

    def container_entries(self) -> list[dict[str, str]]:
        return [{"name": name, "valueFrom": arn} for name, arn in self.items]

    def add_to(self, definition: dict[str, Any]) -> None:
        """Add to a container definition's own ``secrets``; a name it already has is a
        configuration mistake (ECS would take either)."""
        entries = definition.setdefault("secrets", [])
        taken = {str(e.get("name")) for e in entries} & {name for name, _ in self.items}
        if taken:
            raise ConfigurationError(
                "secrets",
                f"container {definition.get('name')!r} of the task definition already has "
                f"secrets named {', '.join(sorted(taken))}; rename them in one place",
            )
        entries.extend(self.container_entries())
