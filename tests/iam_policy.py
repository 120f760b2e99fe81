"""Does an identity policy allow a call? IAM's evaluation, for what the project's policies use.

moto checks no permission, so a test that wants to know whether the hub's calls would pass
real IAM evaluates them here: an explicit Deny wins, then any Allow whose action, resource
and conditions all match. Wildcards are IAM's ``*`` and ``?`` (nothing else is special); actions
and condition key names are case-blind; ARN patterns (``Resource``, ``ArnLike``) match each of
the six colon-separated parts on its own, so a ``*`` never spans a colon. A condition on a key
the call does not carry fails, as in IAM (no ``...IfExists`` here). An operator or element
this module does not know (``NotResource``, ``NotAction``, ``NumericLessThan`` ...) raises: a
policy that uses one is never silently taken as allowing anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def wildcard(value: str, pattern: str) -> bool:
    """IAM's string matching: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, flags=re.S) is not None


def arn_like(value: str, pattern: str) -> bool:
    """IAM's ARN matching: part by part (the resource part keeps its colons)."""
    if pattern == "*":
        return True
    values, patterns = value.split(":", 5), pattern.split(":", 5)
    return len(values) == len(patterns) == 6 and all(map(wildcard, values, patterns))


OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringLike": wildcard,
    "ArnEquals": arn_like,  # IAM's ArnEquals takes wildcards too
    "ArnLike": arn_like,
    "Bool": lambda value, wanted: value.lower() == wanted.lower(),
}
UNSUPPORTED = ("NotAction", "NotResource", "NotPrincipal")


@dataclass(frozen=True)
class Call:
    """One authorization IAM makes: an action on a resource, with the request's context."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _resource_matches(resource: str, pattern: str) -> bool:
    if resource == "*" or pattern == "*":
        return pattern == "*"
    return arn_like(resource, pattern)


def _applies(statement: Mapping[str, Any], call: Call) -> bool:
    for element in UNSUPPORTED:
        if element in statement:
            raise ValueError(f"no evaluation for {element}")
    actions = [a.lower() for a in _listed(statement["Action"])]
    if not any(wildcard(call.action.lower(), a) for a in actions):
        return False
    patterns = _listed(statement["Resource"])
    if not any(_resource_matches(call.resource, p) for p in patterns):
        return False
    context = {key.lower(): value for key, value in call.context.items()}
    for operator, tests in statement.get("Condition", {}).items():
        if operator not in OPERATORS:
            raise ValueError(f"no evaluation for the condition operator {operator}")
        for key, wanted in tests.items():
            if key.lower() not in context:
                return False
            value = context[key.lower()]
            if not any(OPERATORS[operator](value, str(w)) for w in _listed(wanted)):
                return False
    return True


def allows(statements: Sequence[Mapping[str, Any]], call: Call) -> bool:
    if any(s["Effect"] == "Deny" and _applies(s, call) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, call) for s in statements)


def denied(statements: Sequence[Mapping[str, Any]], calls: Sequence[Call]) -> list[Call]:
    return [call for call in calls if not allows(statements, call)]
