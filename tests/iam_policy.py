"""Does an identity policy allow a call? IAM's evaluation, for what the project's policies use.

moto checks no permission, so a test that wants to know whether the hub's calls would pass
real IAM evaluates them here: an explicit Deny wins, then any Allow whose action, resource
and conditions all match (wildcards ``*`` and ``?``, case-blind actions). A condition on a key
the call does not carry fails, as in IAM (no ``...IfExists`` here). An operator this module
does not know raises: a policy that uses one is not silently taken as allowing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, wanted: value == wanted,
    "StringLike": fnmatchcase,
    "ArnEquals": lambda value, wanted: value == wanted,
    "ArnLike": fnmatchcase,
    "Bool": lambda value, wanted: value.lower() == wanted.lower(),
}


@dataclass(frozen=True)
class Call:
    """One authorization IAM makes: an action on a resource, with the request's context."""

    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _applies(statement: Mapping[str, Any], call: Call) -> bool:
    actions = [a.lower() for a in _listed(statement["Action"])]
    if not any(fnmatchcase(call.action.lower(), a) for a in actions):
        return False
    if not any(fnmatchcase(call.resource, r) for r in _listed(statement.get("Resource", "*"))):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        if operator not in OPERATORS:
            raise ValueError(f"no evaluation for the condition operator {operator}")
        for key, wanted in tests.items():
            if key not in call.context:
                return False
            if not any(OPERATORS[operator](call.context[key], str(w)) for w in _listed(wanted)):
                return False
    return True


def allows(statements: Sequence[Mapping[str, Any]], call: Call) -> bool:
    if any(s["Effect"] == "Deny" and _applies(s, call) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, call) for s in statements)


def denied(statements: Sequence[Mapping[str, Any]], calls: Sequence[Call]) -> list[Call]:
    return [call for call in calls if not allows(statements, call)]
