"""Big AWS answers are parsed off the event loop.

botocore turns an answer into Python objects on the calling thread. For most answers that is
well under a millisecond, but DescribeTasks for 100 tasks is about 300 KB of JSON and some
20 ms of CPU: ten of them finishing together in a poll round held the hub's event loop for
a fifth of a second. :class:`OffLoopParserFactory` parses JSON answers from
``OFFLOAD_BYTES`` upwards in a worker thread (the GIL is handed back to the loop every few
milliseconds while it runs); smaller answers are parsed in place, where a thread would cost
more than it saves, each taking its turn (:mod:`awsspawner.loop_turns`) so that a burst of
them is spread over several loop iterations. awsspawner installs it on the sessions it
creates clients from.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory

from ..loop_turns import turn

__all__ = ["OFFLOAD_BYTES", "OffLoopParserFactory", "install"]

# aiobotocore's type stubs leave out the parser internals used here.
_JSONParser: Any = AioJSONParser
_ParserFactory: Any = AioResponseParserFactory

#: Answers at least this large are parsed in a thread (DescribeTasks of ~3 tasks and up).
OFFLOAD_BYTES = 16 * 1024


class OffLoopJSONParser(_JSONParser):
    async def _do_parse(self, response: dict[str, Any], shape: Any) -> Any:
        body = response.get("body") or b""
        if shape is None or shape.event_stream_name or len(body) < OFFLOAD_BYTES:
            # Answers of a burst (a login storm's RunTasks) arrive together: take turns.
            await turn()
            return await super()._do_parse(response, shape)
        return await asyncio.to_thread(self._parse_in_thread, response, shape)

    def _parse_in_thread(self, response: dict[str, Any], shape: Any) -> Any:
        parsed = self._handle_json_body(response["body"], shape)
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class OffLoopParserFactory(_ParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":  # ECS and SSM
            return OffLoopJSONParser(**self._defaults)
        return super().create_parser(protocol_name)


def install(session: Any) -> None:
    """Make clients created from ``session`` from now on use the off-loop parser."""
    session.register_component("response_parser_factory", OffLoopParserFactory())
