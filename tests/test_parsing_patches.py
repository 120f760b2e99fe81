"""awsspawner.aws.parsing overrides and calls private methods of aiobotocore's and botocore's
JSON parser. Like aiobotocore's own test_patches.py, this pins the source of each one: when an
upgrade changes any of them, this test fails, and the override must be read against the new
code before the digest is updated (and the tested range in pyproject.toml with it)."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import aiobotocore
import pytest
from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory

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


def test_the_factory_still_passes_its_defaults_to_parsers() -> None:
    # OffLoopParserFactory builds parsers with ``self._defaults``, as the factory does.
    assert "self._defaults" in inspect.getsource(AioResponseParserFactory.create_parser)
