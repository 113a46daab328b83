"""Every response names its request: ``x-bulkhead-request-id``, issued as the request enters.

Outermost ASGI middleware (with hop timing). The id is signed for the model the path names
(else the application's own), so feedback about it verifies on that model's routes on any
replica (contracts/request_ids.py). Routes read it with ``current()``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from contracts.request_ids import RequestIds
from contracts.serve_api import REQUEST_ID_HEADER, resolve
from serving.http.middleware import Message, Receive, Scope, Send

_HEADER = REQUEST_ID_HEADER.encode()
_CURRENT: ContextVar[str | None] = ContextVar("bulkhead_request_id", default=None)


def current() -> str | None:
    return _CURRENT.get()


class RequestIdHeader:
    def __init__(self, app: Any, ids: RequestIds, model: Callable[[], str]) -> None:
        self.app = app
        self.ids = ids
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = self.model()
        resolved = resolve(scope.get("path", ""), scope.get("root_path", ""), own)
        request_id = self.ids.issue((resolved.model if resolved else None) or own)
        token = _CURRENT.set(request_id)
        value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (_HEADER, value)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _CURRENT.reset(token)
