"""A counting, fault-injecting HTTP proxy in front of the emulator (its own process).

    python -m tests.emulator.proxy --upstream http://127.0.0.1:5000 -H 127.0.0.1 -p 5001

Every AWS request is named ``service:Operation`` (from X-Amz-Target for JSON protocols, the
``Action`` form field for query protocols, method and path for S3 and EFS, the SigV4 credential
scope for the service) and
counted; DescribeTasks and DescribeContainerInstances also record how many ids each call
carried. Control API:

* ``GET  /_proxy/stats``: ``{"calls": {op: n}, "ids": {op: [n, ...]}, "faults": {op: {kind: n}}}``
* ``GET  /_proxy/bodies``: ``{op: [body, ...]}``, the last 2000 request bodies (as sent) of
  the operations that carry what a leak test looks for (RunTask, RegisterTaskDefinition) or
  what an IAM policy decides on (StopTask, DescribeTasks, ListTasks, CreateAccessPoint), the
  query strings of EFS DescribeAccessPoints (a listing has no AccessPointId), and the path and
  query of S3 PutObject, DeleteObject and ListObjectsV2
* ``POST /_proxy/reset``: zero the counters and remove every fault rule
* ``POST /_proxy/faults``: ``{"seed": 7, "rules": [{"operation": "ecs:RunTask" | "ecs:*" | "*",
  "kind": KIND, "rate": 0.3, "delay": 1.0}]}``

Fault kinds: ``throttle`` (400 ThrottlingException), ``5xx`` (500 ServerException), ``html``
(502 with an HTML error page, as a load balancer or corporate proxy answers), ``denied``
(400 AccessDeniedException: a refusal no retry can change), ``drop``
(the connection closes, nothing was forwarded), ``slow`` (forwarded after ``delay`` seconds),
``late`` (forwarded at once, the answer held back ``delay`` seconds),
``lost`` (forwarded, so AWS acted, but the connection closes before the answer). Each rule
decides with its own ``random.Random(seed)``, so a run is repeatable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from aiohttp import ClientSession, ClientTimeout, web

KINDS = ("throttle", "5xx", "denied", "html", "drop", "slow", "late", "lost")
_JSON_SERVICES = {"AmazonEC2ContainerServiceV20141113": "ecs", "AmazonSSM": "ssm"}
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_ID_LISTS = {"ecs:DescribeTasks": "tasks", "ecs:DescribeContainerInstances": "containerInstances"}
#: Operations whose request bodies are kept for leak tests (GET /_proxy/bodies).
RECORDED_BODIES = frozenset(
    {
        "ecs:RunTask",
        "ecs:RegisterTaskDefinition",
        "ecs:StopTask",
        "ecs:DescribeTasks",
        "ecs:ListTasks",
        "efs:CreateAccessPoint",
    }
)
#: REST operations whose query string is recorded as their "body" (what they asked for).
RECORDED_QUERIES = frozenset({"efs:DescribeAccessPoints"})
#: S3 operations whose path and query are recorded (the bucket and key, or the listing).
RECORDED_PATHS = frozenset({"s3:PutObject", "s3:DeleteObject", "s3:ListObjectsV2"})
HTML_ERROR_PAGE = (
    "<!doctype html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway"
    "</h1><p>The upstream server sent an invalid response.</p></body></html>"
)
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class Rule:
    operation: str
    kind: str
    rate: float
    delay: float
    rng: random.Random
    count: int | None = None  # inject at most this many times (None: no limit)

    def applies(self, operation: str) -> bool:
        if self.operation in ("*", operation):
            return True
        return self.operation.endswith(":*") and operation.startswith(self.operation[:-1])


@dataclass
class Stats:
    calls: Counter[str] = field(default_factory=Counter)
    ids: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    faults: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    bodies: defaultdict[str, deque[str]] = field(
        default_factory=lambda: defaultdict(lambda: deque(maxlen=2000))
    )


def operation_of(request: web.Request, body: bytes) -> tuple[str, dict[str, Any] | None]:
    """('service:Operation', the JSON body if any) of an AWS request."""
    target = request.headers.get("X-Amz-Target", "")
    if "." in target:
        prefix, op = target.split(".", 1)
        service = _JSON_SERVICES.get(prefix, prefix)
        try:
            return f"{service}:{op}", json.loads(body or b"{}")
        except ValueError:
            return f"{service}:{op}", None
    match = _SCOPE.search(request.headers.get("Authorization", ""))
    service = match.group(1) if match else "unknown"
    if service == "s3":  # REST: the method and the path say which operation
        return f"s3:{_s3_operation(request)}", None
    if service == "elasticfilesystem":
        return f"efs:{_efs_operation(request)}", None
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["unknown"])[0]
    return f"{service}:{action}", None


def _s3_operation(request: web.Request) -> str:
    """The S3 operations the emulator's users send, by method and path (path-style URLs)."""
    has_key = "/" in request.path.strip("/")
    if request.method == "GET" and not has_key:
        return "ListObjectsV2" if request.query.get("list-type") == "2" else "ListObjects"
    by_method = {
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
        "GET": "GetObject",
        "HEAD": "HeadObject",
    }
    if not has_key:
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket"}.get(request.method, request.method)
    return by_method.get(request.method, request.method)


def _efs_operation(request: web.Request) -> str:
    """The EFS operations awsspawner and the agents send (REST: method and path)."""
    path = request.path.rstrip("/")
    if path.endswith("/access-points"):
        return {"POST": "CreateAccessPoint", "GET": "DescribeAccessPoints"}.get(
            request.method, request.method
        )
    if "/access-points/" in path:
        return "DeleteAccessPoint" if request.method == "DELETE" else request.method
    if "/resource-tags/" in path:
        return {"POST": "TagResource", "GET": "ListTagsForResource"}.get(
            request.method, request.method
        )
    return f"{request.method} {path}"


_ERRORS = {
    "throttle": ("ThrottlingException", 400, "Rate exceeded"),
    "5xx": ("ServerException", 500, "injected server error"),
    "denied": ("AccessDeniedException", 400, "injected: not authorized to perform this action"),
}


def _error(kind: str, json_protocol: bool) -> web.Response:
    code, status, message = _ERRORS[kind]
    if json_protocol:
        return web.json_response({"__type": code, "message": message}, status=status)
    if kind == "throttle":
        code = "Throttling"
    xml = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
    )
    return web.Response(text=xml, status=status, content_type="text/xml")


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.stats = Stats()
        self.rules: list[Rule] = []
        self.session: ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/_proxy/stats", self.get_stats)
        app.router.add_get("/_proxy/bodies", self.get_bodies)
        app.router.add_post("/_proxy/reset", self.reset)
        app.router.add_post("/_proxy/faults", self.set_faults)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        self.session = ClientSession(timeout=ClientTimeout(total=120), auto_decompress=False)

    async def _stop(self, _app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()

    async def get_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "calls": dict(self.stats.calls),
                "ids": dict(self.stats.ids),
                "faults": {op: dict(kinds) for op, kinds in self.stats.faults.items()},
            }
        )

    async def get_bodies(self, _request: web.Request) -> web.Response:
        return web.json_response({op: list(bodies) for op, bodies in self.stats.bodies.items()})

    async def reset(self, _request: web.Request) -> web.Response:
        self.stats = Stats()
        self.rules = []
        return web.json_response({"ok": True})

    async def set_faults(self, request: web.Request) -> web.Response:
        spec = await request.json()
        seed = int(spec.get("seed", 0))
        rules = []
        for index, rule in enumerate(spec.get("rules", [])):
            if rule.get("kind") not in KINDS:
                return web.json_response({"error": f"kind must be one of {KINDS}"}, status=400)
            rules.append(
                Rule(
                    operation=str(rule.get("operation", "*")),
                    kind=rule["kind"],
                    rate=float(rule.get("rate", 1.0)),
                    delay=float(rule.get("delay", 1.0)),
                    rng=random.Random(seed * 1000 + index),
                    count=int(rule["count"]) if "count" in rule else None,
                )
            )
        self.rules = rules
        return web.json_response({"rules": len(rules)})

    def _fault_for(self, operation: str) -> Rule | None:
        for rule in self.rules:
            if rule.count is not None and rule.count <= 0:
                continue
            if rule.applies(operation) and rule.rng.random() < rule.rate:
                if rule.count is not None:
                    rule.count -= 1
                return rule
        return None

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation, payload = operation_of(request, body)
        self.stats.calls[operation] += 1
        if operation in RECORDED_BODIES:
            self.stats.bodies[operation].append(body.decode("utf-8", "replace"))
        if operation in RECORDED_QUERIES:
            self.stats.bodies[operation].append(request.query_string)
        if operation in RECORDED_PATHS:
            self.stats.bodies[operation].append(request.path_qs)
        if operation in _ID_LISTS and payload is not None:
            self.stats.ids[operation].append(len(payload.get(_ID_LISTS[operation]) or []))
        rule = self._fault_for(operation)
        if rule is not None:
            self.stats.faults[operation][rule.kind] += 1
            if rule.kind in _ERRORS:
                return _error(rule.kind, "X-Amz-Target" in request.headers)
            if rule.kind == "html":
                return web.Response(text=HTML_ERROR_PAGE, status=502, content_type="text/html")
            if rule.kind == "drop":
                return self._drop(request)
            if rule.kind == "slow":
                await asyncio.sleep(rule.delay)
        answer = await self._upstream(request, body)
        if rule is not None and rule.kind == "lost":
            return self._drop(request)
        if rule is not None and rule.kind == "late":
            await asyncio.sleep(rule.delay)  # AWS has acted; the answer is on its way
        return answer

    def _drop(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=599)  # never reaches the client

    async def _upstream(self, request: web.Request, body: bytes) -> web.Response:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            data = await upstream.read()
            keep = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP_HEADERS and k.lower() not in ("server", "date")
            }
            return web.Response(body=data, status=upstream.status, headers=keep)


def main() -> None:
    parser = argparse.ArgumentParser(description="counting, fault-injecting AWS proxy")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--ready-file", default="")
    args = parser.parse_args()
    proxy = Proxy(args.upstream)

    async def ready(_app: web.Application) -> None:
        if args.ready_file:
            Path(args.ready_file).write_text("ready")  # noqa: ASYNC240 - once, at startup

    app = proxy.app()
    app.on_startup.append(ready)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
