"""Every page of a paginated AWS answer, through awsspawner's error translation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["all_pages"]


async def all_pages(
    call: Callable[..., Awaitable[dict[str, Any]]],
    items: str,
    *,
    next_key: str = "nextToken",
    **params: Any,
) -> list[Any]:
    """The ``items`` of every page ``call(**params)`` answers, following ``next_key`` (ECS
    spells it ``nextToken``, EFS and SSM ``NextToken``). ``call`` translates errors itself
    (``ECSGateway._call``, :func:`awsspawner.errors.aws_call` around a client method)."""
    found: list[Any] = []
    following = None
    while True:
        page = await call(**params, **({next_key: following} if following else {}))
        found.extend(page.get(items) or [])
        following = page.get(next_key)
        if not following:
            return found
