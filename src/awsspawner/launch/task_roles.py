"""Pure: per-user task roles, ``c.AWSSpawner.task_role_arn`` with ``{username}``.

A template like ``arn:aws:iam::123456789012:role/jupyter/user-{username}`` gives each user a
role of their own (sent as RunTask's ``taskRoleArn`` override), so what a user's code may do in
AWS (their S3 prefix, their EFS access point) is decided per user. The roles must exist: the
hub does not create them.

IAM allows ``A-Za-z0-9+=,.@_-`` in a role name, at most 64 characters, and compares names
without regard to case. So a user name is written with lower-case ASCII letters, digits and
``. @ _ -`` kept, every other character (upper-case letters included) as ``=XX`` per UTF-8
byte: one-to-one even to IAM's case-blind eye (``Alice`` is ``=41lice``, never ``alice``'s
role). A name too long for its share ends in ``+`` and 12 hex digits of its SHA-256 (``+`` is
always escaped in a name, so a cut name equals no uncut one).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = ["RoleTemplate", "escape_role_component", "is_role_arn"]

MAX_ROLE_NAME = 64
_KEPT = set("abcdefghijklmnopqrstuvwxyz0123456789.@_-")
_ROLE_NAME_CHARS = re.compile(r"^[A-Za-z0-9+=,.@_-]*$")
_ROLE_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:role/(?P<path>(?:[\x21-\x7e]+/)*)"
    r"(?P<name>[A-Za-z0-9+=,.@_-]{1,64})$"
)
_CUT_MARK = "+"
_DIGEST_CHARS = 12
#: A template must leave the user's name at least this many characters of the role name.
MIN_SHARE = 8 + len(_CUT_MARK) + _DIGEST_CHARS
PLACEHOLDER = "{username}"


def is_role_arn(text: str) -> bool:
    """Is ``text`` an IAM role ARN IAM would accept?"""
    return bool(_ROLE_ARN.match(text))


def escape_role_component(name: str) -> str:
    out = []
    for char in name:
        if char in _KEPT:
            out.append(char)
        else:
            out.append("".join(f"={byte:02X}" for byte in char.encode("utf-8")))
    return "".join(out)


@dataclass(frozen=True)
class RoleTemplate:
    """A checked ``task_role_arn`` template (an ARN with ``{username}`` in its name)."""

    prefix: str  # everything before the role name (arn:...:role/path/)
    head: str  # the role name's text before {username}
    tail: str  # and after it

    @classmethod
    def parse(cls, template: str, key: str = "task_role_arn") -> RoleTemplate:
        if template.count(PLACEHOLDER) != 1 or template.count("{") != 1:
            raise ConfigurationError(
                key, f"{template!r}: a role template holds {PLACEHOLDER} once, and no other {{}}"
            )
        sample = template.replace(PLACEHOLDER, "x")
        found = _ROLE_ARN.match(sample)
        # The placeholder must be in the name: a prefix that differs from the template's own
        # start held it (in the path).
        if not found or not template.startswith(sample[: found.start("name")]):
            raise ConfigurationError(
                key,
                f"{template!r} is not an IAM role ARN with {PLACEHOLDER} in the role's name "
                "(like 'arn:aws:iam::123456789012:role/jupyter/user-{username}'; a role name "
                f"holds A-Za-z0-9+=,.@_- only, {MAX_ROLE_NAME} characters at most)",
            )
        prefix = sample[: found.start("name")]
        name = template[len(prefix) :]
        head, _, tail = name.partition(PLACEHOLDER)
        if not _ROLE_NAME_CHARS.match(head + tail):
            raise ConfigurationError(
                key, f"{template!r}: the role name holds characters IAM refuses"
            )
        share = MAX_ROLE_NAME - len(head) - len(tail)
        if share < MIN_SHARE:
            raise ConfigurationError(
                key,
                f"{template!r} leaves {share} of IAM's {MAX_ROLE_NAME} role name characters "
                f"for the user's name; shorten its fixed text (a name needs {MIN_SHARE})",
            )
        return cls(prefix=prefix, head=head, tail=tail)

    @property
    def share(self) -> int:
        return MAX_ROLE_NAME - len(self.head) - len(self.tail)

    def render(self, username: str) -> str:
        escaped = escape_role_component(username)
        if len(escaped) > self.share:
            digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
            head = escaped[: self.share - len(_CUT_MARK) - _DIGEST_CHARS]
            cut = head.rfind("=")
            if cut != -1 and cut > len(head) - 3:  # never end inside an =XX escape
                head = head[:cut]
            escaped = f"{head}{_CUT_MARK}{digest}"
        arn = f"{self.prefix}{self.head}{escaped}{self.tail}"
        if not is_role_arn(arn):  # the checks make this impossible; never send a bad ARN
            raise AssertionError(f"role ARN {arn!r} breaks IAM's rules")
        return arn
