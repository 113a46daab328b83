"""The ASGI side of per-hop timing (see serving/hops.py): requests without the header pay one
header scan; nothing is recorded for them."""

from __future__ import annotations

import time
from typing import Any

from contracts.serve_api import SENT_AT_HEADER, SERVER_TIMING_HEADER
from serving.hops import CURRENT, Hops, parse_sent_ns
from serving.http.middleware import Message, Receive, Scope, Send

_SENT_AT = SENT_AT_HEADER.encode()
_SERVER_TIMING = SERVER_TIMING_HEADER.encode()


class HopTiming:
    """Outermost ASGI middleware: starts the clock for a request that asked for hop timing
    and adds the split to the response headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = None
        if scope["type"] == "http":
            header = next((v for k, v in scope.get("headers", ()) if k == _SENT_AT), None)
            # A value that is not a plausible time is ignored (no hop timing), never a 500.
            sent = parse_sent_ns(header) if header is not None else None
        if sent is None:
            await self.app(scope, receive, send)
            return
        hops = Hops(sent_ns=sent)
        token = CURRENT.set(hops)

        async def send_with_hops(message: Message) -> None:
            if message["type"] == "http.response.start":
                value = hops.header(time.perf_counter()).encode()
                message["headers"] = [*message.get("headers", ()), (_SERVER_TIMING, value)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_hops)
        finally:
            CURRENT.reset(token)
