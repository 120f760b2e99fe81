"""Turning hub names into strings ECS accepts: tag values, tag keys and ``startedBy``.

ECS tag values may hold only letters, numbers, spaces and ``_ . : / = + - @`` (at most 256
characters); ``startedBy`` only ``[A-Za-z0-9-/_]`` (at most 128). JupyterHub user and server
names may hold anything, so they are escaped:

* :func:`escape_tag_value` keeps every allowed character except ``=`` and writes any other
  character as ``=XX`` per UTF-8 byte (upper-case hex, like quoted-printable). Because ``=``
  itself is escaped the mapping is one-to-one, and :func:`unescape_tag_value` reverses it.
* A value whose escaped form is longer than 256 characters is cut and ends in ``=_`` plus 16
  hex digits of its SHA-256 (an escaped value has ``=`` only before two hex digits, so a cut
  value cannot equal an uncut one). Two names that differ therefore never share a tag value.
  Cut values cannot be reversed: whoever matches tasks to users (the reaper) escapes the
  hub's names and compares, never the other way round.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_OWN_REVISION_TAGS",
    "MAX_OWN_TASK_TAGS",
    "MAX_STARTED_BY",
    "MAX_TAGS",
    "MAX_TAG_KEY",
    "MAX_TAG_VALUE",
    "TAG_BASE",
    "TAG_HUB",
    "TAG_IMAGE",
    "TAG_IMAGE_HASH",
    "TAG_PORT",
    "TAG_PROFILE",
    "TAG_SERVER",
    "TAG_SPAWN",
    "TAG_USER",
    "TAG_USER_ID",
    "counted_tags",
    "escape_tag_value",
    "is_aws_reserved",
    "is_valid_tag_key",
    "is_valid_tag_value",
    "started_by_for_hub",
    "task_tags",
    "unescape_tag_value",
]

# Every tag key awsspawner writes, in one place.
#: The user's name, escaped (see escape_tag_value).
TAG_USER = "awsspawner:user"
#: JupyterHub's id of the user, which (unlike the name) survives a rename; for audits, billing.
TAG_USER_ID = "awsspawner:user-id"
TAG_SERVER = "awsspawner:server"
TAG_HUB = "awsspawner:hub"
TAG_PROFILE = "awsspawner:profile"
#: The spawn attempt's clientToken, to find the task of a spawn whose RunTask answer was lost.
TAG_SPAWN = "awsspawner:spawn"
#: The port ``use_dynamic_port`` picked for a host-network server.
TAG_PORT = "awsspawner:port"
#: On a derived task definition revision, what it was derived from and for which image.
TAG_BASE = "awsspawner:base-task-definition"
TAG_IMAGE = "awsspawner:image"
TAG_IMAGE_HASH = "awsspawner:image-sha256"

MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_STARTED_BY = 128
#: ECS's limit of tags on one resource (task or task definition revision). Keys with the
#: ``aws:`` prefix (ECS managed tags, CloudFormation's) do not count against it.
MAX_TAGS = 50
#: The most tags awsspawner itself puts on a task (the owner tag, user, user id, server,
#: hub, profile, spawn and port). The admin's ``task_tags`` get the rest of MAX_TAGS.
MAX_OWN_TASK_TAGS = 8
#: The tags awsspawner puts on a derived revision (base, image, derivation digest, and on a
#: user's home revision the hub and the user).
MAX_OWN_REVISION_TAGS = 5

_PUNCTUATION_ALLOWED = set("_.:/+-@ ")  # '=' is allowed by ECS but is our escape character
_STARTED_BY_OK = re.compile(r"^[A-Za-z0-9/_-]{1,128}$")
_STARTED_BY_BAD = re.compile(r"[^A-Za-z0-9/_-]")
_DIGEST_MARK = "--"
_DIGESTED = re.compile(r"--[0-9a-f]{8}$")
_ESCAPE = re.compile(r"(?:=[0-9A-F]{2})+")
_CUT_MARK = "=_"
_DIGEST_CHARS = 16


def _kept(char: str) -> bool:
    if char in _PUNCTUATION_ALLOWED:
        return True
    # Letters and numbers of any script are allowed; separators other than the plain space
    # (line/paragraph separators, no-break spaces) are escaped to keep values on one line.
    return unicodedata.category(char)[0] in ("L", "N")


def _escape(text: str) -> str:
    out = []
    for char in text:
        if _kept(char):
            out.append(char)
        else:
            out.append("".join(f"={byte:02X}" for byte in char.encode("utf-8")))
    return "".join(out)


def escape_tag_value(text: str, limit: int = MAX_TAG_VALUE) -> str:
    """Return ``text`` as a valid, collision-free ECS tag value (see the module docstring)."""
    escaped = _escape(text)
    if len(escaped) <= limit:
        return escaped
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    head = escaped[: limit - len(_CUT_MARK) - _DIGEST_CHARS]
    # Never cut inside an =XX escape: drop a partial one at the end.
    tail = head.rfind("=")
    if tail != -1 and tail > len(head) - 3:
        head = head[:tail]
    return f"{head}{_CUT_MARK}{digest}"


def unescape_tag_value(value: str) -> str:
    """Reverse :func:`escape_tag_value`. Raises ValueError for a cut (hashed) value."""
    if _CUT_MARK in value:
        raise ValueError("this tag value was shortened with a hash and cannot be reversed")
    return _ESCAPE.sub(lambda m: bytes.fromhex(m.group(0).replace("=", "")).decode("utf-8"), value)


def task_tags(resource: Mapping[str, Any]) -> dict[str, str]:
    """The tags of an ECS answer (a task described with include=['TAGS'], a task definition's
    ``tags``) as a dict; the one way awsspawner reads tags."""
    return {str(t.get("key")): str(t.get("value", "")) for t in resource.get("tags") or []}


def is_valid_tag_value(value: str) -> bool:
    """True when ECS accepts ``value`` as a tag value."""
    return len(value) <= MAX_TAG_VALUE and all(_kept(c) or c == "=" for c in value)


def is_valid_tag_key(key: str) -> bool:
    """True when ECS accepts ``key`` as a tag key (the ``aws:`` prefix is reserved)."""
    return (
        0 < len(key) <= MAX_TAG_KEY
        and not is_aws_reserved(key)
        and all(_kept(c) or c == "=" for c in key)
    )


def started_by_for_hub(hub_id: str) -> str:
    """The ``startedBy`` value of every task this hub starts.

    A hub id made only of ``[A-Za-z0-9-/_]`` is used as it is, after the ``jupyterhub-``
    prefix (``prod-20240601`` gives ``jupyterhub-prod-20240601``), unless it ends the way a
    digested value does: ``--`` and 8 lower-case hex digits. Any other id is reduced to those
    characters and gets ``--`` and 8 hex digits of its SHA-256. A value used as it is never
    ends like a digested one, so two hub ids share a ``startedBy`` only if their SHA-256
    digests share 32 bits, and ListTasks(startedBy=...) finds one hub's tasks. (With a single
    ``-`` before the digest, ``team.a`` and ``team-a-dc627329`` both gave
    ``jupyterhub-team-a-dc627329``.)
    """
    prefix = "jupyterhub-"
    candidate = prefix + hub_id
    if _STARTED_BY_OK.match(candidate) and not _DIGESTED.search(candidate):
        return candidate
    digest = hashlib.sha256(hub_id.encode("utf-8")).hexdigest()[:8]
    slug = _STARTED_BY_BAD.sub("-", hub_id)
    room = MAX_STARTED_BY - len(prefix) - len(_DIGEST_MARK) - len(digest)
    return f"{prefix}{slug[:room]}{_DIGEST_MARK}{digest}"


def is_aws_reserved(key: str) -> bool:
    """Keys with the ``aws:`` prefix belong to AWS: never sent by us, never counted."""
    return key.lower().startswith("aws:")


def counted_tags(tags: Mapping[str, str]) -> int:
    """How many of ``tags`` count against ECS's limit of MAX_TAGS."""
    return sum(1 for key in tags if not is_aws_reserved(key))
