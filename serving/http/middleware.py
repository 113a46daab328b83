"""Pure ASGI middleware, outermost first: the key gate, the admission limit, the body limit.

Each instance reads the ``Guards`` object it was built with; ``reconfigure`` updates that
object, so the limits of one app never leak into another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse

from contracts import serve_limits as limits
from contracts.serve_api import AUTH_SCHEME, Access, Resolved, error_body, resolve
from serving.http.auth import ApiKey, Verdict, set_client_key
from serving.http.errors import no_route
from serving.http.telemetry import route_label
from serving.metrics import NoMetrics, ReplicaMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

RETRY_AFTER_S = "1"


@dataclass
class Guards:
    """The limits and key one app enforces (from ``user_config.limits`` and the key file)."""

    max_body_bytes: int = limits.MAX_BODY_BYTES
    body_timeout_s: float = limits.BODY_TIMEOUT_S
    max_in_flight: int = limits.MAX_IN_FLIGHT
    api_key: ApiKey = field(default_factory=ApiKey)
    # The model this app serves: a client key must name it in its scopes.
    model: str = ""
    in_flight: int = 0
    # Refusals answered here never reach a route: counted here, by route and status.
    metrics: ReplicaMetrics = field(default_factory=NoMetrics)

    def refused(self, scope: Scope, status: int) -> None:
        self.metrics.request(route_label(scope.get("path", "")), status, 0.0)

    def resolve(self, scope: Scope) -> Resolved | None:
        """The route and model this request reaches (contracts.serve_api.resolve), decided
        once per request and kept in its scope for every later guard and the handler."""
        state = scope.setdefault("state", {})
        if _RESOLVED not in state:
            state[_RESOLVED] = resolve(
                scope.get("path", ""), scope.get("root_path", ""), self.model
            )
        resolved: Resolved | None = state[_RESOLVED]
        return resolved


_RESOLVED = "bulkhead_resolved"


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


async def _answer(
    scope: Scope, send: Send, status: int, detail: str, headers: dict[str, str]
) -> None:
    body = error_body(scope.get("path", ""), detail)
    response = JSONResponse(body, status_code=status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


class ApiKeyGate:
    """A request without the right key is answered 401 before it takes an admission slot or
    any body byte is read (unauthenticated slow bodies once held every slot and locked real
    callers out)."""

    def __init__(self, app: Any, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        resolved = self.guards.resolve(scope)
        if resolved is None:
            # No route answers this path: said before any key, slot or body byte, so an
            # unusual form of a path can never be checked as one model and answered as another.
            self.guards.refused(scope, 404)
            await _answer(scope, send, 404, no_route(scope), {})
            return
        if resolved.access is not Access.OPEN:
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            model = resolved.model or self.guards.model
            verdict, key = self.guards.api_key.identify(header, model)
            if verdict is Verdict.OUT_OF_SCOPE and resolved.access is Access.LISTING:
                verdict = Verdict.ALLOWED  # any valid key may list; it sees what it may call
            if verdict is Verdict.OUT_OF_SCOPE:
                self.guards.refused(scope, 403)
                detail = f"this API key may not call model {model!r}"
                await _answer(scope, send, 403, detail, {"connection": "close"})
                return
            if verdict is not Verdict.ALLOWED:
                headers = {"WWW-Authenticate": AUTH_SCHEME, "connection": "close"}
                self.guards.refused(scope, 401)
                await _answer(scope, send, 401, "missing or wrong API key", headers)
                return
            set_client_key(scope, key)
        await self.app(scope, receive, send)


class AdmissionLimit:
    """At most ``max_in_flight`` prediction requests in this replica at once.

    Beyond it the answer is an immediate 503 with Retry-After, before the body is read: under
    overload a client learns in microseconds to back off, and the requests already admitted
    keep a bounded queue (Serve's own queue answered 503 without Retry-After and let admitted
    requests wait 1.5 s at p99 under 96 clients).
    """

    def __init__(self, app: Any, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolved = self.guards.resolve(scope) if scope["type"] == "http" else None
        if resolved is None or resolved.access is not Access.ADMITTED:
            await self.app(scope, receive, send)
            return
        guards = self.guards
        if guards.in_flight >= guards.max_in_flight:
            detail = f"overloaded: {guards.max_in_flight} requests in flight on this replica; retry"
            guards.refused(scope, 503)
            await _answer(scope, send, 503, detail, {"Retry-After": RETRY_AFTER_S})
            return
        guards.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            guards.in_flight -= 1


class BodyLimit:
    """Buffer the body up to the limit, answer 413 beyond it, and 408 when the whole body
    does not arrive within ``body_timeout_s``.

    Works for chunked bodies too (no Content-Length to trust), and never lets an oversized
    body reach JSON parsing. The deadline covers the whole body, not the gap between bytes, so
    a client sending one byte every few seconds is cut off too.
    """

    def __init__(self, app: Any, guards: Guards) -> None:
        self.app = app
        self.guards = guards

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        limit, timeout_s = self.guards.max_body_bytes, self.guards.body_timeout_s
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self.guards.refused(scope, 413)
            await self._too_large(scope, send, limit)
            return
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(timeout_s):
                complete = await self._read_body(receive, chunks, limit)
        except TimeoutError:
            detail = f"request body not received within {timeout_s:g} s"
            self.guards.refused(scope, 408)
            await _answer(scope, send, 408, detail, {"connection": "close"})
            return
        if complete is None:  # the client went away
            return
        if not complete:
            self.guards.refused(scope, 413)
            await self._too_large(scope, send, limit)
            return
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    @staticmethod
    async def _read_body(receive: Receive, chunks: list[bytes], limit: int) -> bool | None:
        """True when the body is complete, False when it exceeds the limit, None on
        disconnect."""
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return False
            chunks.append(chunk)
            more = message.get("more_body", False)
        return True

    @staticmethod
    async def _too_large(scope: Scope, send: Send, limit: int) -> None:
        await _answer(scope, send, 413, f"request body exceeds the limit of {limit} bytes", {})
