"""ECS's cluster query language, the part placement constraints use.

Used by ``awsspawner doctor`` (does any node satisfy a profile's placement constraints?) and
by the test suite's emulator (which nodes may take a task), so both read expressions alike.

Supported: ``attribute:NAME OP VALUE`` (or ``ec2InstanceId OP VALUE``, the node's instance id,
``i-...`` or ``mi-...``) with OP one of ``==``, ``!=``, ``=~`` (regular
expression, ECS's ``t3.*`` style), ``!~``, ``in [a, b]``, ``not_in [a, b]``, and ``exists`` /
``not_exists``; several joined with ``and`` / ``or`` (``and`` binds tighter, no parentheses).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["INSTANCE_ID", "ExpressionError", "matches"]

#: The key under which ``matches`` finds the node's instance id among its attributes (no
#: attribute can have this name: ECS refuses NUL in names).
INSTANCE_ID = "\0ec2InstanceId"

_TERM = re.compile(
    r"^\s*(?:attribute:(?P<name>[A-Za-z0-9_.\-]+)|(?P<field>ec2InstanceId))\s*"
    r"(?:(?P<op>==|!=|=~|!~)\s*(?P<value>\S.*?)"
    r"|(?P<setop>in|not_in)\s*\[(?P<items>[^\]]*)\]"
    r"|(?P<exists>exists|not_exists))\s*$"
)


class ExpressionError(ValueError):
    """The expression is not valid cluster query language."""


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _term(text: str, attributes: Mapping[str, str]) -> bool:
    found = _TERM.match(text)
    if not found:
        raise ExpressionError(f"cannot parse {text.strip()!r}")
    actual = attributes.get(found["name"] or INSTANCE_ID)
    if found["exists"]:
        return (actual is not None) == (found["exists"] == "exists")
    if found["setop"]:
        items = {_unquote(i) for i in found["items"].split(",") if i.strip()}
        inside = actual is not None and actual in items
        return inside if found["setop"] == "in" else not inside
    value = _unquote(found["value"])
    op = found["op"]
    if op == "==":
        return actual == value
    if op == "!=":
        return actual != value
    hit = actual is not None and re.fullmatch(value, actual) is not None
    return hit if op == "=~" else not hit


def matches(expression: str, attributes: Mapping[str, str]) -> bool:
    """Does a container instance with ``attributes`` satisfy ``expression``?"""
    return any(
        all(_term(term, attributes) for term in re.split(r"\s+and\s+", alternative))
        for alternative in re.split(r"\s+or\s+", expression)
    )
