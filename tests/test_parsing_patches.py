"""awsspawner.aws.parsing (and .connections) override and call private methods of
aiobotocore's and botocore's JSON parser (and its HTTP connector). Like aiobotocore's own
test_patches.py, this pins the source of each one: when an upgrade changes any of them, this
test fails, and the override must be read against the new code before the digest is updated
(and the tested range in pyproject.toml with it)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import weakref
from collections.abc import Callable
from typing import Any

import aiobotocore
import aiohttp
import pytest
from aiobotocore import httpsession
from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory

from awsspawner.aws import connections

# Tested with aiobotocore 3.10.0 (and the botocore it pins).
PATCHED: list[tuple[Callable[..., Any], str]] = [
    (AioJSONParser._do_parse, "007b4e804159459acca4b24a32dbf7329865c58d"),
    (AioJSONParser._handle_json_body, "5db584de787c39e7b83298ec9e9c73c13bc0a83d"),
    (AioJSONParser._inject_response_metadata, "0ae265c14eb6521c37f42144578fe97281176ecf"),
    (AioResponseParserFactory.create_parser, "5cf11c9acecd1f60a013f6facbe0f294daa3f390"),
]


@pytest.mark.parametrize(
    ("function", "digest"), PATCHED, ids=lambda f: getattr(f, "__qualname__", "")
)
def test_the_parser_internals_we_rely_on_are_unchanged(
    function: Callable[..., Any], digest: str
) -> None:
    source = inspect.getsource(function)
    assert hashlib.sha1(source.encode()).hexdigest() == digest, (  # noqa: S324 - a fingerprint
        f"{function.__module__}.{function.__qualname__} changed in aiobotocore "
        f"{aiobotocore.__version__}: review awsspawner/aws/parsing.py against it"
    )


def test_the_connector_awsspawner_paces_is_still_the_one_aiobotocore_builds() -> None:
    """awsspawner.aws.connections wraps _ProxySSLTCPConnector._create_connection."""
    connector = httpsession._ProxySSLTCPConnector
    assert "_ProxySSLTCPConnector(" in inspect.getsource(
        httpsession.AIOHTTPSession._create_connector
    )
    parameters = list(inspect.signature(aiohttp.TCPConnector._create_connection).parameters)
    assert parameters == ["self", "req", "traces", "timeout"]
    connections.install()
    assert connector._awsspawner_paced is True
    connections.install()  # idempotent: wrapped once


async def test_connections_are_opened_a_few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "MAX_OPENING", 3)
    monkeypatch.setattr(connections, "_gates", weakref.WeakKeyDictionary())
    under_way, most = 0, 0

    async def opening(_self: Any, _req: Any, _traces: Any, _timeout: Any) -> str:
        nonlocal under_way, most
        under_way += 1
        most = max(most, under_way)
        await asyncio.sleep(0.01)
        under_way -= 1
        return "connection"

    wrapped = connections.paced(opening)
    answers = await asyncio.gather(*(wrapped(None, None, None, None) for _ in range(20)))
    assert answers == ["connection"] * 20
    assert most == 3


def test_the_factory_still_passes_its_defaults_to_parsers() -> None:
    # OffLoopParserFactory builds parsers with ``self._defaults``, as the factory does.
    assert "self._defaults" in inspect.getsource(AioResponseParserFactory.create_parser)
