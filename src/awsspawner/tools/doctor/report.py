"""The doctor's report: one Check per line, and what every group of checks shares."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from ...aws.paging import all_pages
from ...errors import AWSError, aws_call

__all__ = ["FAIL", "OK", "WARN", "Check", "Findings", "code_of", "render"]

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    status: str
    check: str  # what was checked, in a few words
    found: str  # what the doctor found
    fix: str = ""  # how to fix it (FAIL, WARN)
    key: str = ""  # the c.AWSSpawner.<key> involved
    profile: str = ""  # the profile's slug ("" for the configuration itself)

    def line(self) -> str:
        where = f"[{self.profile}] " if self.profile else ""
        fix = f" -> {self.fix}" if self.fix else ""
        key = f" (c.AWSSpawner.{self.key})" if self.key else ""
        return f"{self.status:4} {where}{self.check}: {self.found}{fix}{key}"


def render(checks: Sequence[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps([asdict(c) for c in checks], indent=2)
    return "\n".join(c.line() for c in checks)


def code_of(exc: Exception) -> str:
    if isinstance(exc, AWSError):
        return exc.code or type(exc).__name__
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return type(exc).__name__


#: Error codes that mean the doctor's own identity may not make a call: nothing is known then.
ACCESS_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
     "UnauthorizedException", "Forbidden", "403"}
)  # fmt: skip


class Findings:
    """The checks found so far, and AWS as the spawner's own clients reach it."""

    checks: list[Check]
    _seen: set[tuple[str, str, str]]
    _spawner: Any
    _cluster_arns: set[str]
    _cluster_defaults: dict[str, list[dict[str, Any]]]
    _revision_tags: dict[str, list[dict[str, str]]]
    hub_role_arn: str

    def add(self, check: Check) -> None:
        if check.status == FAIL and any(check.found.endswith(": " + c) for c in ACCESS_CODES):
            # Refused to the doctor, not missing: say that nothing could be checked.
            check = Check(
                WARN,
                check.check,
                check.found + " (the doctor's own credentials may not ask: not checked)",
                "let the doctor's identity make this read-only call (see docs/doctor.md)",
                check.key,
                check.profile,
            )
        # The same finding for several profiles is said once, for the first of them.
        key = (check.status, check.check, check.found)
        if key not in self._seen:
            self._seen.add(key)
            self.checks.append(check)

    async def guarded(self, group: str, profile: str, checks: Awaitable[Any]) -> Any:
        """Run one group of checks; an answer it did not expect ends that group with a line
        saying so, never the report."""
        try:
            return await checks
        except Exception as exc:
            self.add(
                Check(FAIL, group, f"could not be checked: {code_of(exc)}",
                      "see the message; run the doctor again", "", profile)
            )  # fmt: skip
            return None

    async def client(self, service: str, region: str) -> Any:
        return await self._spawner.aws_client(service, region)

    async def call(self, service: str, region: str, operation: str, **params: Any) -> Any:
        client = await self.client(service, region)
        method: Callable[..., Awaitable[Any]] = getattr(client, xform_name(operation))
        return await aws_call(operation, method(**params))

    async def pages(
        self, service: str, region: str, operation: str, items: str, next_key: str, **params: Any
    ) -> list[Any]:
        """The ``items`` of every page of ``operation``'s answer."""

        async def one(**page_params: Any) -> Any:
            return await self.call(service, region, operation, **page_params)

        return await all_pages(one, items, next_key=next_key, **params)
