"""Pure: the server's hub API token as an S3 environment file (``api_token_source = 's3'``).

ECS keeps RunTask's container overrides with the task, where ecs:DescribeTasks and
CloudTrail show them. An environment file is an S3 object the ECS agent downloads with the
task's execution role and hands to the container as variables: the request names only the
object. This module decides which variables go there, the object's key, its text and the
override entry; :mod:`awsspawner.aws.token_store` writes and deletes it.

Keys: ``<prefix><hub_id>/<user>.env`` for a user's default server and
``<prefix><hub_id>/<user>/<server>.env`` for a named one. Each name is percent-encoded (no
``/`` survives), so the two forms never collide, and a name longer than 200 characters
once encoded is cut and ends in ``~`` and 16 hex digits of its SHA-256 (``~`` is never the
result of encoding a name: it is encoded too). Whoever matches objects to servers (the reaper)
builds the keys of the hub's servers and compares, never the other way round.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FROM_S3",
    "SECRET_VARIABLES",
    "TokenFile",
    "hub_prefix",
    "split_secrets",
    "token_file_for",
]

#: The value of ``api_token_source`` that moves the token into a file.
FROM_S3 = "s3"
#: The variables that carry the server's hub API token (JPY_API_TOKEN: the older name).
SECRET_VARIABLES = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN")
MAX_NAME = 200


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _name(value: str) -> str:
    # quote() keeps '~' as it is: encode it too, so that '~' only ever marks a cut name.
    encoded = urllib.parse.quote(value, safe="").replace("~", "%7E")
    if len(encoded) <= MAX_NAME:
        return encoded
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return f"{encoded[: MAX_NAME - 17]}~{digest}"


def hub_prefix(prefix: str, hub_id: str) -> str:
    """The folder of one hub's token files in the bucket."""
    return f"{prefix}{_name(hub_id)}/"


@dataclass(frozen=True)
class TokenFile:
    """Where one server's token file lives."""

    bucket: str
    key: str
    region: str

    @property
    def arn(self) -> str:
        """The object's ARN, as ``environmentFiles`` takes it."""
        return f"arn:{_partition(self.region)}:s3:::{self.bucket}/{self.key}"

    @property
    def ref(self) -> str:
        """``region:bucket/key``: what the spawner's state keeps (a profile may choose the
        region and bucket; neither holds ``:`` or ``/``)."""
        return f"{self.region}:{self.bucket}/{self.key}"

    @classmethod
    def from_ref(cls, ref: str) -> TokenFile:
        region, _, path = ref.partition(":")
        bucket, _, key = path.partition("/")
        return cls(bucket=bucket, key=key, region=region)

    def override_entry(self) -> dict[str, str]:
        """The container override's ``environmentFiles`` item."""
        return {"value": self.arn, "type": "s3"}


def token_file_for(
    *, bucket: str, prefix: str, region: str, hub_id: str, username: str, server_name: str
) -> TokenFile:
    """The token file of ``username``'s server ``server_name`` ('' = the default server)."""
    folder = hub_prefix(prefix, hub_id) + _name(username)
    key = f"{folder}/{_name(server_name)}.env" if server_name else f"{folder}.env"
    return TokenFile(bucket=bucket, key=key, region=region)


def split_secrets(environment: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """(the environment without the token variables, the env file's text with them).

    The file has one ``NAME=VALUE`` line per variable, as ECS (and Docker's env-file)
    reads it; a value with a line break could not be written there, and is refused.
    """
    kept = {k: v for k, v in environment.items() if k not in SECRET_VARIABLES}
    lines = []
    for name in SECRET_VARIABLES:
        if name not in environment:
            continue
        value = str(environment[name])
        if "\n" in value or "\r" in value:
            raise ValueError(f"{name} holds a line break: it cannot go into an env file")
        lines.append(f"{name}={value}\n")
    return kept, "".join(lines)
