"""Warming a new client off the event loop, so the first spawn costs what the thousandth does.

botocore builds much of an operation lazily, at its first call: the operation model and the
shapes of its input and output (every member resolved on first touch), the endpoint
ruleset's evaluation for the client's parameters, the event emitter's handler lookups. On a
fresh hub all of it would happen on the event loop, in the middle of the first login storm.
:func:`warm_client` does it in a worker thread, once per client, before the client is handed
to anyone: it touches the shapes of every operation awsspawner calls, serializes and
validates an empty request, resolves the endpoint (on a private event loop: aiobotocore's
resolver is a coroutine but does no I/O), and looks up the handlers of each event a call
emits. Nothing is sent. Failures are ignored: warming is an optimisation, never a gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from botocore.validate import ParamValidator

__all__ = ["OPERATIONS", "warm_client"]

log = logging.getLogger(__name__)

#: The operations awsspawner calls, per service (the spawner, the reaper, the node-address
#: sources, the token files, the homes' access points).
OPERATIONS: dict[str, tuple[str, ...]] = {
    "ecs": (
        "RunTask",
        "DescribeTasks",
        "StopTask",
        "ListTasks",
        "DescribeTaskDefinition",
        "RegisterTaskDefinition",
        "DescribeContainerInstances",
    ),
    "ec2": ("DescribeInstances",),
    "ssm": (
        "DescribeInstanceInformation",
        "ListInventoryEntries",
        "SendCommand",
        "GetCommandInvocation",
    ),
    "s3": ("PutObject", "DeleteObject", "ListObjectsV2"),
    "efs": ("CreateAccessPoint", "DescribeAccessPoints"),
    "sts": ("AssumeRole",),
}

#: The events one call emits, by botocore's names (``{service}`` and ``{operation}`` filled
#: in): their handler lookups are cached per name after the first emission.
EVENTS = (
    "provide-client-params.{service}.{operation}",
    "before-parameter-build.{service}.{operation}",
    "before-endpoint-resolution.{service}",
    "before-call.{service}.{operation}",
    "request-created.{service}.{operation}",
    "choose-signer.{service}.{operation}",
    "before-sign.{service}.{operation}",
    "before-send.{service}.{operation}",
    "response-received.{service}.{operation}",
    "needs-retry.{service}.{operation}",
    "after-call.{service}.{operation}",
    "after-call-error.{service}.{operation}",
    "before-parse.{service}.{operation}",
)


def _walk(shape: Any, seen: set[int]) -> None:
    """Resolve a shape and everything it holds (botocore caches each on first touch)."""
    if shape is None or id(shape) in seen:
        return
    seen.add(id(shape))
    shape.metadata  # noqa: B018 - cached on first read
    shape.serialization  # noqa: B018
    kind = shape.type_name
    if kind == "structure":
        for member in shape.members.values():
            _walk(member, seen)
    elif kind == "list":
        _walk(shape.member, seen)
    elif kind == "map":
        _walk(shape.key, seen)
        _walk(shape.value, seen)


def _warm_operation(client: Any, name: str, loop: asyncio.AbstractEventLoop) -> None:
    model = client.meta.service_model.operation_model(name)
    seen: set[int] = set()
    _walk(model.input_shape, seen)
    _walk(model.output_shape, seen)
    with contextlib.suppress(Exception):
        ParamValidator().validate({}, model.input_shape)
    with contextlib.suppress(Exception):
        client._serializer.serialize_to_request({}, model)
    resolver = getattr(client, "_ruleset_resolver", None)
    if resolver is not None:
        resolving = resolver.construct_endpoint(model, {}, {})
        try:
            loop.run_until_complete(resolving)
        except Exception:  # noqa: S110 - some operations need parameters to resolve (S3)
            pass
        finally:
            resolving.close()  # never left unawaited, whatever happened
    _warm_events(client, name)


def _warm_events(client: Any, operation: str) -> None:
    """Fill the emitter's handler-lookup cache for the events one call emits, as its first
    emission would (botocore clears that cache when a handler is registered later)."""
    aliaser = client.meta.events
    alias = getattr(aliaser, "_alias_event_name", None)
    emitter = getattr(aliaser, "_emitter", aliaser)
    cache = getattr(emitter, "_lookup_cache", None)
    handlers = getattr(emitter, "_handlers", None)
    if cache is None or handlers is None:
        return
    service = client.meta.service_model.service_id.hyphenize()
    for event in EVENTS:
        name = event.format(service=service, operation=operation)
        with contextlib.suppress(Exception):
            name = alias(name) if alias is not None else name
            if name not in cache:
                cache[name] = handlers.prefix_search(name)


def warm_client(client: Any, service: str) -> int:
    """Warm ``client`` for awsspawner's operations of ``service``; how many were warmed.

    Runs in a worker thread, before the client is shared (nothing else uses it meanwhile)."""
    loop = asyncio.new_event_loop()
    warmed = 0
    try:
        for name in OPERATIONS.get(service, ()):
            try:
                _warm_operation(client, name, loop)
            except Exception as exc:  # an optimisation only: never fail a client over it
                log.debug("Warming %s.%s failed: %s", service, name, exc)
                continue
            warmed += 1
    finally:
        loop.close()
    return warmed
